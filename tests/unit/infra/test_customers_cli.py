"""Row parsing of ``dealreg customers import`` (pure: the API's Customer model, no storage)."""
from __future__ import annotations

from infra.customers_cli import _rows, checkpoint_path, file_sha256, parse_row


def test_a_good_row_gives_the_api_customer_and_the_owner():
    customer, owner, errors = parse_row({"name": " 华为技术有限公司 ", "registry_ids": "USCC:914403001922038216; ",
                                         "website": "huawei.com", "country": "CN", "owner_id": "li"})
    assert errors == [] and owner == "li"
    assert customer.name == "华为技术有限公司" and customer.registry_ids[0].scheme.value == "uscc"


def test_bad_fields_are_reported_by_column_and_nothing_is_returned():
    customer, _, errors = parse_row({"name": "", "registry_ids": "uscc:123;lei", "country": "china"})
    assert customer is None
    assert {e["field"] for e in errors} == {"registry_ids", "name", "country"}
    assert any("'lei' is not scheme:value" in e["error"] for e in errors)


def test_rows_are_numbered_like_a_spreadsheet_and_blank_lines_skipped(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("\ufeffName,Website\nA,a.com\n,\nB,\n", encoding="utf-8")
    assert list(_rows(path)) == [(2, {"name": "A", "website": "a.com"}), (4, {"name": "B", "website": ""})]
    assert checkpoint_path(tmp_path, file_sha256(path)).name.startswith("customers-import-")
    path.write_text("Name,Website\nA,a.com\n", encoding="utf-8")
    assert checkpoint_path(tmp_path, file_sha256(path)) != checkpoint_path(tmp_path, "0" * 64)
