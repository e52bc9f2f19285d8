"""Parse untrusted XML into an ElementTree with entity declarations refused (defusedxml's policy).

The stdlib's expat expands internal entities and, through ``ElementTree``, offers no switch to forbid
them. A "billion laughs" document or one pulling an external entity must end as a clear error, so this
module drives expat itself: any ``<!ENTITY>`` declaration (general, parameter, unparsed) or external
entity reference raises ``UnsafeXmlError``; a DOCTYPE without declarations is harmless and allowed.
Element names come out in ElementTree's ``{namespace}local`` form.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from xml.parsers import expat

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
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    # Never fetch or even consider external DTD subsets and parameter entities.
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(*_args: object) -> None:
        raise UnsafeXmlError("the document declares XML entities; refused")

    def external(*_args: object) -> int:
        raise UnsafeXmlError("the document references an external entity; refused")

    def qname(name: str) -> str:
        return "{" + name if "}" in name else name

    def start(name: str, attrs: dict[str, str]) -> None:
        builder.start(qname(name), {qname(k): v for k, v in attrs.items()})

    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = external
    parser.StartElementHandler = start
    parser.EndElementHandler = lambda name: builder.end(qname(name))
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(body, True)
    except UnsafeXmlError:
        raise
    except expat.ExpatError as exc:
        # The message names line/column only, never content.
        raise MalformedXmlError(f"malformed XML: {expat.ErrorString(exc.code)} at line {exc.lineno}") from None
    except (ValueError, UnicodeError):
        raise MalformedXmlError("malformed XML: undecodable") from None
    try:
        return builder.close()
    except AssertionError:
        raise MalformedXmlError("malformed XML: no root element") from None


def local(tag: str) -> str:
    """``{ns}Name`` -> ``Name``."""
    return tag.rsplit("}", 1)[-1]
