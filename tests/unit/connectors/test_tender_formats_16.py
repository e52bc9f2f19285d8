"""Issue 16 format work: OCDS process status, JSON Lines and non-UTF-8 packages, award-only releases; eForms
deadline kinds; the PLACSP CODICE Atom profile; HTML row groups with detail pages over local HTTP.

Inputs here are written for these tests (the real notices are checked in test_real_tenders.py).
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Fetched, FetchRequest, split_parsed
from connectors.errors import PermanentError
from connectors.http import HttpClient
from connectors.tender_feeds import TenderCodiceConnector, TenderHtmlConnector, TenderOcdsConnector
from tests.contract.harness import LocalServer, Reply
from tests.corpora import corpus

CODICE = Path(__file__).resolve().parents[2] / "fixtures" / "sources" / "tender_codice" / "placsp_sample.atom"


class _NoHttp:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"parse used http.{name}")


def _ocds(body: bytes, content_type: str | None = None) -> tuple[list[Any], list[Any]]:
    conn = TenderOcdsConnector({"source": "s", "feed_url": "https://x.example/f"}, _NoHttp())
    return split_parsed(conn.parse(Fetched(body=body, url="https://x.example/f", content_type=content_type)))


def _release(ocid: str, **extra: Any) -> dict[str, Any]:
    return {"ocid": ocid, "id": f"{ocid}-1", "date": "2026-11-01T10:00:00Z", "tag": ["tender"],
            "tender": {"title": "Servicio de limpieza", "status": "active"}, **extra}


@pytest.mark.parametrize(("extra", "status"), [
    ({}, "tender"),
    ({"tender": {"title": "x", "status": "planning"}, "tag": ["planning"]}, "planning"),
    ({"tender": {"title": "x", "status": "cancelled"}}, "cancellation"),
    ({"tender": {"title": "x", "status": "unsuccessful"}}, "closed"),
    ({"tender": {"title": "x", "status": "complete"}}, "closed"),
    ({"tender": {"title": "x", "status": "complete"}, "tag": ["compiled"],
      "awards": [{"id": "a1", "status": "active", "value": {"amount": 5, "currency": "EUR"}}]}, "award"),
    ({"tender": {"title": "x", "status": "active"}, "tag": ["compiled"],
      "contracts": [{"id": "c1", "status": "active"}]}, "award"),
    # a cancelled award does not make the process awarded
    ({"tender": {"title": "x", "status": "active"}, "awards": [{"id": "a1", "status": "cancelled"}]}, "tender"),
])
def test_ocds_process_status(extra: dict[str, Any], status: str) -> None:
    tenders, rejected = _ocds(json.dumps(_release("ocds-abc123-1", **extra)).encode())
    assert not rejected and str(tenders[0].status) == status


def test_ocds_award_values_are_kept_and_summed_per_currency() -> None:
    rel = _release("ocds-03ad3f-9", tag=["compiled"], awards=[
        {"id": "a1", "status": "active", "value": {"amount": 100, "currency": "PYG"}},
        {"id": "a2", "status": "active", "value": {"amount": 50, "currency": "PYG"}},
        {"id": "a3", "status": "cancelled", "value": {"amount": 999, "currency": "PYG"}},
    ])
    rel["tender"]["value"] = {"amount": None, "currency": "PYG"}
    t = _ocds(json.dumps(rel).encode())[0][0]
    assert (t.value, t.currency, str(t.status)) == (Decimal(150), "PYG", "award")
    assert t.country == "PY"  # ocds-03ad3f is Paraguay's DNCP


def test_ocds_award_only_release_keeps_title_buyer_value() -> None:
    rel = {"ocid": "ocds-zz9-1", "id": "r1", "tag": "award", "buyer": {"name": "Service de l'eau"},
           "awards": [{"id": "1", "value": {"amount": 10786.27, "currency": "CAD"},
                       "items": [{"id": "", "description": "Achat de télévision"}]}],
           "tender": {"status": "complete"}}
    t = _ocds(json.dumps(rel).encode())[0][0]
    assert (t.title, t.buyer.name, t.value, t.currency) == ("Achat de télévision", "Service de l'eau",
                                                            Decimal("10786.27"), "CAD")


def test_ocds_json_lines_one_document_per_line_and_a_bad_line_is_one_rejection() -> None:
    lines = [json.dumps(_release("ocds-abc123-1")), "", "{not json", json.dumps({"hello": "world"}),
             json.dumps({"releases": [_release("ocds-abc123-2"), _release("ocds-abc123-3")]})]
    tenders, rejected = _ocds("\n".join(lines).encode())
    assert sorted(t.source_id for t in tenders) == ["ocds-abc123-1-1", "ocds-abc123-2-1", "ocds-abc123-3-1"]
    assert [(e.errors[0]["loc"], e.errors[0]["type"]) for e in rejected] == [("lines.2", "json_invalid"),
                                                                            ("lines.3", "not_ocds")]


def test_ocds_non_utf8_packages_are_decoded() -> None:
    from connectors.formats.ocds import decode

    rel = _release("ocds-87sd3t-1")
    rel["tender"]["title"] = "MANTENIMIENTO A MÁQUINA CORTADORA"
    body = json.dumps({"releases": [rel]}, ensure_ascii=False).encode("iso-8859-1")
    tenders, _ = _ocds(body)
    assert tenders[0].title == "MANTENIMIENTO A MÁQUINA CORTADORA" and tenders[0].country == "MX"
    assert decode(body)[1] == "cp1252"
    # the HTTP charset wins when it is given
    assert decode(body, "application/json; charset=ISO-8859-1") == (body.decode("latin-1"), "iso-8859-1")
    assert decode("ñ".encode("utf-16"))[1] == "utf-16"
    assert decode(b'{"a": 1}')[1] == "utf-8"


def test_ocds_a_body_that_is_no_json_at_all_is_still_refused() -> None:
    with pytest.raises(PermanentError) as exc:
        _ocds(b"<html>maintenance</html>")
    assert exc.value.reason == "malformed_json"


def test_ocds_date_only_deadline_is_the_end_of_the_day_in_the_buyer_zone() -> None:
    rel = _release("ocds-b5fd17-1")
    rel["tender"]["tenderPeriod"] = {"endDate": "2026-07-01"}
    t = _ocds(json.dumps(rel).encode())[0][0]
    assert t.deadline == datetime(2026, 7, 1, 22, 59, 59, tzinfo=UTC)  # 23:59:59 BST
    assert str(t.deadline_kind) == "tender"


def test_eforms_says_which_deadline_it_read() -> None:
    from bench.tender_fields import golden, parse_file

    root = corpus("real_tenders")
    specs = golden()
    restricted = parse_file(root, "eforms/cn_v1.8_2024-OJS044-00129266.xml",
                            specs["eforms/cn_v1.8_2024-OJS044-00129266.xml"])[0]
    assert str(restricted.deadline_kind) == "participation"
    assert restricted.deadline == datetime(2024, 4, 18, 10, 0, tzinfo=UTC)
    open_proc = parse_file(root, "eforms/cn_v1.9_2024-OJS012-00032045.xml",
                           specs["eforms/cn_v1.9_2024-OJS012-00032045.xml"])[0]
    assert str(open_proc.deadline_kind) == "tender"


def test_codice_atom_entries_read_fully() -> None:
    conn = TenderCodiceConnector({"source": "placsp", "feed_url": "https://x.example/sindicacion/a.atom"}, _NoHttp())
    raw = Fetched(body=CODICE.read_bytes(), url="https://x.example/sindicacion/a.atom", content_type=None)
    tenders, rejected = split_parsed(conn.parse(raw))
    assert not rejected
    open_one, awarded, deserted = tenders
    assert open_one.buyer.name == "Ayuntamiento de Ejemplo"
    assert (open_one.buyer.id, open_one.buyer.scheme) == ("P9999001A", "ES-NIF")
    assert (open_one.value, open_one.currency) == (Decimal("48500.00"), "EUR")  # before tax
    assert open_one.categories == ["cpv:72267000"] and open_one.region == "ES709"
    # Tenerife: 14:00 in the Canaries (UTC+0 in December), not Madrid time
    assert open_one.deadline == datetime(2026, 12, 10, 14, 0, tzinfo=UTC)
    assert str(open_one.status) == "tender" and open_one.project_code == "2026/EJ/0001"
    assert str(awarded.status) == "award" and awarded.value == Decimal("15230.40")
    assert str(deserted.status) == "closed" and deserted.buyer is None
    assert conn.next_page(raw) == "https://x.example/sindicacion/ejemplo_2.atom"


def test_html_row_groups_and_detail_follow_over_local_http() -> None:
    """The saved PLACSP portal list (notices spanning several rows) and one detail page, served on 127.0.0.1."""
    from bench.tender_fields import golden

    root = corpus("real_tenders")
    spec = golden()["html/placsp-portal/first_page.html"]
    list_page = (root / "html/placsp-portal/first_page.html").read_bytes()
    detail = (root / "html/placsp-portal/detail_page.html").read_bytes()
    detail_marker = "idLicitacion=26674922"  # not this one: row 1; row 2's link is found below
    seen: list[str] = []

    def respond(req: Any) -> Reply:
        seen.append(req.path)
        if req.path == "/licitaciones":
            return Reply(200, list_page, {"Content-Type": "text/html;charset=ISO-8859-1"})
        if "idLicitacion=" in req.path and row2 and row2 in req.path:
            return Reply(200, detail, {"Content-Type": "text/html;charset=ISO-8859-1"})
        return Reply(404, b"gone")

    from connectors.formats import html as html_format

    with LocalServer(respond) as server:
        config = {**spec["config"], "feed_url": server.url("/licitaciones"), "max_details": 3}
        conn = TenderHtmlConnector(config, HttpClient(read_timeout=5.0))
        rows = html_format.parse_list(list_page, base_url=server.url("/licitaciones"), selectors=conn.config.list)
        row2 = rows[1]["url"].split(server.base_url, 1)[1].split("idLicitacion=", 1)[1]
        assert detail_marker not in row2
        pages = list(conn.fetch(FetchRequest()))
        tenders, rejected = split_parsed(t for p in pages for t in conn.parse(p))
    assert not rejected and len(tenders) == 20
    # THEN each notice is one tender with its own title (not its file number), buyer and amount
    by_code = {t.project_code: t for t in tenders}
    t2 = by_code["020112AF0403"]
    assert t2.title == "Suministro de 1099 envases de Isentress para los centros penitenciarios de la SGIIPP"
    assert (t2.value, t2.currency) == (Decimal("466459.56"), "EUR")  # 466.459,56: a Spanish amount
    assert by_code["020120130106"].value == Decimal("24492.00")  # 24.492,00
    assert all(t.title != t.project_code for t in tenders)
    assert {str(t.status) for t in tenders} == {"award"}
    # AND the detail page of row 2 (followed, 3 detail GETs at most) adds its CPV code
    assert t2.categories == ["cpv:33600000"]
    assert sum(1 for p in seen if "idLicitacion=" in p) == 3
    assert by_code["020120130106"].published == datetime(2014, 1, 3, 14, 47, tzinfo=UTC)  # 15:47 Madrid


def _ted(body: str) -> Any:
    from connectors.tender_feeds import TenderTedConnector

    conn = TenderTedConnector({"source": "ted", "feed_url": "https://x.example/n.xml"}, _NoHttp())
    tenders, rejected = split_parsed(conn.parse(Fetched(body=body.encode(), url="https://x.example/n.xml",
                                                        content_type=None)))
    assert not rejected
    return tenders[0]


_TED_HEAD = """<?xml version="1.0" encoding="UTF-8"?><TED_EXPORT xmlns="http://publications.europa.eu/resource/schema/ted/R2.0.8/publication" DOC_ID="{doc}">
<CODED_DATA_SECTION><NOTICE_DATA><ISO_COUNTRY VALUE="{country}"/></NOTICE_DATA><CODIF_DATA><TD_DOCUMENT_TYPE CODE="{td}"/></CODIF_DATA></CODED_DATA_SECTION>
<TRANSLATION_SECTION><ML_TITLES><ML_TI_DOC LG="BG"><TI_TEXT><P>Български етикет</P></TI_TEXT></ML_TI_DOC></ML_TITLES></TRANSLATION_SECTION>
<FORM_SECTION>"""


def test_ted_r208_defence_award_f18_reads_title_buyer_and_award_value() -> None:
    # Written for this test in the shape of an R2.0.8 F18 (contract award, defence).
    t = _ted(_TED_HEAD.format(doc="1-2021", country="IE", td="7") + """
<CONTRACT_AWARD_DEFENCE CATEGORY="ORIGINAL" FORM="18" LG="EN"><FD_CONTRACT_AWARD_DEFENCE>
<CONTRACTING_AUTHORITY_INFORMATION_CONTRACT_AWARD_DEFENCE><NAME_ADDRESSES_CONTACT_CONTRACT_AWARD>
<CA_CE_CONCESSIONAIRE_PROFILE><ORGANISATION><OFFICIALNAME>Department of Defence</OFFICIALNAME><NATIONALID>N/A</NATIONALID></ORGANISATION><COUNTRY VALUE="IE"/></CA_CE_CONCESSIONAIRE_PROFILE>
</NAME_ADDRESSES_CONTACT_CONTRACT_AWARD></CONTRACTING_AUTHORITY_INFORMATION_CONTRACT_AWARD_DEFENCE>
<OBJECT_CONTRACT_INFORMATION_CONTRACT_AWARD_NOTICE_DEFENCE><DESCRIPTION_AWARD_NOTICE_INFORMATION_DEFENCE>
<TITLE_CONTRACT><P>Supply of armoured utility vehicles</P></TITLE_CONTRACT></DESCRIPTION_AWARD_NOTICE_INFORMATION_DEFENCE>
</OBJECT_CONTRACT_INFORMATION_CONTRACT_AWARD_NOTICE_DEFENCE>
<AWARD_OF_CONTRACT_DEFENCE><CONTRACT_VALUE_INFORMATION><COSTS_RANGE_AND_CURRENCY_WITH_VAT_RATE CURRENCY="EUR">
<VALUE_COST FMTVAL="1234567.89">1 234 567,89</VALUE_COST></COSTS_RANGE_AND_CURRENCY_WITH_VAT_RATE></CONTRACT_VALUE_INFORMATION></AWARD_OF_CONTRACT_DEFENCE>
</FD_CONTRACT_AWARD_DEFENCE></CONTRACT_AWARD_DEFENCE></FORM_SECTION></TED_EXPORT>""")
    assert t.title == "Supply of armoured utility vehicles"  # not the Bulgarian label of the title block
    assert t.buyer.name == "Department of Defence" and t.buyer.id is None  # "N/A" is no id
    assert (t.value, t.currency, str(t.status)) == (Decimal("1234567.89"), "EUR", "award")


def test_ted_award_value_only_in_the_award_section_t02_style() -> None:
    t = _ted(_TED_HEAD.format(doc="2-2020", country="DE", td="7") + """
<MOVE CATEGORY="ORIGINAL" FORM="T02" LG="DE"><CONTRACTING_BODY><ADDRESS_CONTRACTING_BODY><OFFICIALNAME>Landkreis Beispiel</OFFICIALNAME><NATIONALID>DE</NATIONALID><COUNTRY VALUE="DE"/></ADDRESS_CONTRACTING_BODY></CONTRACTING_BODY>
<OBJECT_CONTRACT><TITLE><P>Busverkehr Beispielstadt</P></TITLE></OBJECT_CONTRACT>
<AWARD_CONTRACT ITEM="1"><LOT_NO>1</LOT_NO><AWARDED_CONTRACT><VALUES><VAL_TOTAL CURRENCY="EUR">13764400</VAL_TOTAL></VALUES></AWARDED_CONTRACT></AWARD_CONTRACT>
</MOVE></FORM_SECTION></TED_EXPORT>""")
    assert (t.value, t.currency, str(t.status)) == (Decimal("13764400"), "EUR", "award")
    assert t.buyer.id is None  # a bare country code is no id


def test_ted_local_time_is_the_buyers_zone() -> None:
    # Ireland, an F22-style deadline "Local time" 12:00 in summer = 11:00Z (Brussels time would say 10:00Z)
    t = _ted(_TED_HEAD.format(doc="3-2019", country="IE", td="3").replace(
        "<CODIF_DATA>", "<CODIF_DATA><DT_DATE_FOR_SUBMISSION>20190614 12:00</DT_DATE_FOR_SUBMISSION>") + """
<F22_2014 CATEGORY="ORIGINAL" FORM="F22" LG="EN"><CONTRACTING_BODY><ADDRESS_CONTRACTING_BODY><OFFICIALNAME>Example County Council</OFFICIALNAME><COUNTRY VALUE="IE"/></ADDRESS_CONTRACTING_BODY></CONTRACTING_BODY>
<OBJECT_CONTRACT><TITLE><P>Road maintenance</P></TITLE></OBJECT_CONTRACT></F22_2014></FORM_SECTION></TED_EXPORT>""")
    assert t.deadline == datetime(2019, 6, 14, 11, 0, tzinfo=UTC)


def test_a_codice_feed_configured_as_plain_rss_still_gets_the_codice_profile() -> None:
    from connectors.tender_feeds import TenderRssConnector

    conn = TenderRssConnector({"source": "placsp", "feed_url": "https://x.example/a.atom"}, _NoHttp())
    tenders, _ = split_parsed(conn.parse(Fetched(body=CODICE.read_bytes(), url="https://x.example/a.atom",
                                                 content_type="application/atom+xml")))
    assert tenders[0].buyer.name == "Ayuntamiento de Ejemplo" and tenders[0].value == Decimal("48500.00")
