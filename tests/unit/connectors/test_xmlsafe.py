"""connectors/formats/xmlsafe.py over defusedxml: what is refused, what is allowed, and the error shapes."""
from __future__ import annotations

import pytest

from connectors.formats import xmlsafe


@pytest.mark.parametrize("body", [
    b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',  # an internal entity (the billion-laughs building block)
    b'<!DOCTYPE a [<!ENTITY % p "y">]><a/>',  # a parameter entity
    b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>',  # XXE
    b'<!DOCTYPE a [<!ENTITY x SYSTEM "logo.gif" NDATA gif>]><a/>',  # an unparsed entity
    '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'.encode("utf-16"),
])
def test_entity_declarations_are_refused(body):
    with pytest.raises(xmlsafe.UnsafeXmlError) as err:
        xmlsafe.parse(body)
    assert err.value.reason == "xml_entities_refused"
    assert xmlsafe.declares_entities(body)  # the pre-check before feedparser agrees


def test_a_doctype_without_declarations_and_namespaces_parse():
    root = xmlsafe.parse(b'<?xml version="1.0"?><!DOCTYPE a><a xmlns="urn:x" xmlns:y="urn:y"><y:b y:c="1">t</y:b></a>')
    assert root.tag == "{urn:x}a"
    [child] = list(root)
    assert child.tag == "{urn:y}b" and child.get("{urn:y}c") == "1" and child.text == "t"
    assert xmlsafe.local(child.tag) == "b"


@pytest.mark.parametrize("body, says", [
    (b"<a><b></a>", "mismatched tag at line 1"),
    (b"", "no element found"),
    (b"<a>\n&secret_name;</a>", "undefined entity at line 2"),
])
def test_malformed_documents_name_a_position_never_content(body, says):
    with pytest.raises(xmlsafe.MalformedXmlError) as err:
        xmlsafe.parse(body)
    assert err.value.reason == "malformed_xml"
    assert says in str(err.value) and "secret_name" not in str(err.value)
