"""Parse untrusted XML into an ElementTree with entity declarations refused, through ``defusedxml``.

defusedxml's ElementTree parser forbids entity declarations (general, parameter, unparsed: a "billion
laughs" document) and external references (XXE); a DOCTYPE without declarations is harmless and allowed.
This module only maps its outcomes onto the connector errors: ``UnsafeXmlError`` and ``MalformedXmlError``
(whose messages name a position, never content). Element names come out in ElementTree's
``{namespace}local`` form. ``declares_entities`` is the cheap byte pre-check used before feedparser.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from xml.parsers import expat

import defusedxml
from defusedxml.ElementTree import fromstring

from connectors.errors import PermanentError

_ENTITY_DECL = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)


class UnsafeXmlError(PermanentError):
    """The document declares entities (a possible entity bomb / XXE); it is refused, not parsed."""

    default_reason = "xml_entities_refused"


class MalformedXmlError(PermanentError):
    """The document is not well-formed XML (or not XML at all)."""

    default_reason = "malformed_xml"


def declares_entities(body: bytes) -> bool:
    """Cheap pre-check used before handing bytes to feedparser: any ``<!ENTITY`` in the document.

    NUL bytes are dropped first so UTF-16/32 encodings are caught too.
    """
    return _ENTITY_DECL.search(body.replace(b"\x00", b"")) is not None


def parse(body: bytes) -> ET.Element:
    """Parse bytes into the root element.

    Raises:
        UnsafeXmlError: The document declares entities or references external ones.
        MalformedXmlError: Not well-formed.
    """
    try:
        return fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.ExternalReferenceForbidden:
        raise UnsafeXmlError("the document references an external entity; refused") from None
    except defusedxml.DefusedXmlException:
        raise UnsafeXmlError("the document declares XML entities; refused") from None
    except ET.ParseError as exc:
        # The message names line/column only, never content.
        raise MalformedXmlError(f"malformed XML: {expat.ErrorString(exc.code)} at line {exc.position[0]}") from None
    except (ValueError, UnicodeError):
        raise MalformedXmlError("malformed XML: undecodable") from None


def local(tag: str) -> str:
    """``{ns}Name`` -> ``Name``."""
    return tag.rsplit("}", 1)[-1]
