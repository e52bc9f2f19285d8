"""``dealreg customers import`` / ``export`` against the suite's moto (over HTTP): rows become customers and
blocking-index entries the dedup check finds; bad rows are reported by row and field; an interrupted
import resumes after the last finished row; an export imports back unchanged."""
from __future__ import annotations

import csv
import io
import json
import sys

import pytest

from infra import cli, customers_cli

ROWS = [
    ["name", "registry_ids", "website", "country", "region", "industry", "owner_id", "crm_note"],
    ["华为技术有限公司", "uscc:914403001922038216", "https://www.huawei.com", "CN", "广东省深圳市", "ICT", "li", "x"],
    ["Acme Widgets Ltd", "", "acme.example", "GB", "", "", "", ""],
    ["比亚迪股份有限公司", "uscc:NOT-A-USCC", "", "CN", "", "", "", ""],  # row 4: bad registry id
    ["", "", "", "", "", "", "", ""],                                          # blank: skipped
    ["", "", "nameless.example", "", "", "", "", ""],                          # row 6: no name
    ["京东方科技集团股份有限公司", "", "", "cn", "", "", "wang", ""],              # row 7: bad country
    ["小米科技有限责任公司", "", "mi.com", "CN", "", "", "zhao", ""],
]


def _write(tmp_path, rows=ROWS, name="customers.csv"):
    path = tmp_path / name
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


@pytest.fixture
def _cli_storage(suite, monkeypatch):
    # the CLI's storage set-up is the process's: the suite already pointed settings and models at moto
    monkeypatch.setattr(cli, "_storage", lambda args: None)


def _check(suite, name, key):
    return suite.api.post("/v1/duplicates/check", {"customer": {"name": name}}, key)


def test_import_writes_customers_and_index_reports_bad_rows_and_dedup_sees_them(suite, tmp_path, _cli_storage, capsys,
                                                                                 monkeypatch):
    from chalicelib.store.models import CustomerItem
    from tests.functional.helpers import make_user

    staff = make_user("rep1", "rep", team="south")
    path = _write(tmp_path)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # the bar draws on a terminal only
    code = cli.main(["customers", "import", str(path), "--state-dir", str(tmp_path / "state")])
    out, err = capsys.readouterr()
    assert code == 1  # some rows failed
    summary = json.loads(out)
    assert summary["rows"] == 6 and summary["imported"] == 3 and summary["errors"] == 3  # a blank line is no row
    assert "row 4: registry_ids:" in err and "row 6: name:" in err and "row 7: country:" in err
    assert "import: 100%" in err and "6/6" in err and "3 errors" in err  # the progress bar, on stderr
    huawei = CustomerItem.get("uscc:914403001922038216")
    assert huawei.name == "华为技术有限公司" and huawei.owner_id == "li" and huawei.website == "https://www.huawei.com"
    assert CustomerItem.get("name:acmewidgets").country == "GB"
    # the dedup pre-check finds imported customers (staff see candidates)
    verdict = _check(suite, "华为技术", staff).json()["verdict"]
    assert verdict["candidates"][0]["customer_key"] == "uscc:914403001922038216"
    cross = _check(suite, "Huawei Technologies", staff).json()["verdict"]
    assert [c["customer_key"] for c in cross["candidates"]] == ["uscc:914403001922038216"]


def test_an_interrupted_import_resumes_after_the_last_finished_row(suite, tmp_path, _cli_storage, monkeypatch, capsys):
    from chalicelib.store import dedup as dedup_store
    from chalicelib.store.models import CustomerItem, DedupIndexItem

    path = _write(tmp_path)
    real = dedup_store.index_customer
    calls = []

    def crash_on_xiaomi(key, name, *args, **kwargs):
        calls.append(name)
        if name.startswith("小米"):
            raise KeyboardInterrupt  # the operator presses Ctrl-C while row 8 is in flight
        return real(key, name, *args, **kwargs)

    monkeypatch.setattr(dedup_store, "index_customer", crash_on_xiaomi)
    state = tmp_path / "state"
    assert cli.main(["customers", "import", str(path), "--state-dir", str(state)]) == 130
    assert "run the same command again" in capsys.readouterr().err
    from chalicelib.clock import now

    checkpoint = json.loads(customers_cli.checkpoint_path(state, customers_cli.file_sha256(path),
                                                          customers_cli.target_of(now())).read_text())
    assert checkpoint["row"] == 7 and checkpoint["imported"] == 2 and len(checkpoint["errors"]) == 3

    monkeypatch.setattr(dedup_store, "index_customer", real)
    calls.clear()
    monkeypatch.setattr(dedup_store, "index_customer", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    assert cli.main(["customers", "import", str(path), "--state-dir", str(state), "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert calls == ["小米科技有限责任公司"]  # only what was left; nothing before row 8 is written again
    summary = json.loads(out)
    assert summary["imported"] == 3 and summary["errors"] == 3 and summary["resumed_after_row"] == 7
    assert err.count("row 4: registry_ids") == 1  # errors of the first run are still reported, once
    assert CustomerItem.get("name:小米科技").owner_id == "zhao"
    # a third run of the finished file writes nothing and counts each key once
    assert cli.main(["customers", "import", str(path), "--state-dir", str(state), "--quiet"]) == 1
    assert calls == ["小米科技有限责任公司"]
    assert DedupIndexItem.get("g:小米", "#").n == 1


def test_the_same_rows_in_a_changed_file_start_over_but_write_nothing_twice(suite, tmp_path, _cli_storage, capsys):
    from chalicelib.store.models import DedupIndexItem

    state = tmp_path / "state"
    assert cli.main(["customers", "import", str(_write(tmp_path)), "--state-dir", str(state), "--quiet"]) == 1
    changed = _write(tmp_path, ROWS + [["腾讯控股有限公司", "", "", "", "", "", "", ""]], name="v2.csv")
    assert cli.main(["customers", "import", str(changed), "--state-dir", str(state), "--quiet"]) == 1
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["resumed_after_row"] == 0 and summary["imported"] == 4
    assert DedupIndexItem.get("g:小米", "#").n == 1 and DedupIndexItem.get("g:腾讯", "#").n == 1


def test_export_writes_the_import_columns_and_imports_back_unchanged(suite, tmp_path, _cli_storage, capsys):
    state = tmp_path / "state"
    cli.main(["customers", "import", str(_write(tmp_path)), "--state-dir", str(state), "--quiet"])
    capsys.readouterr()
    out = tmp_path / "export.csv"
    assert cli.main(["customers", "export", "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out) == {"rows": 3, "out": str(out)}
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert tuple(rows[0]) == customers_cli.COLUMNS
    by_name = {r["name"]: r for r in rows}
    assert by_name["华为技术有限公司"]["registry_ids"] == "uscc:914403001922038216"
    assert by_name["小米科技有限责任公司"]["owner_id"] == "zhao"
    # re-importing the export changes nothing and reports no error
    assert cli.main(["customers", "import", str(out), "--state-dir", str(state), "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["imported"] == 3
    assert cli.main(["customers", "export"]) == 0
    assert sorted(capsys.readouterr().out.splitlines()[1:]) == sorted(out.read_text(encoding="utf-8").splitlines()[1:])


def test_a_file_without_a_name_column_is_refused(suite, tmp_path, _cli_storage, capsys):
    path = _write(tmp_path, [["company", "website"], ["x", "y"]])
    assert cli.main(["customers", "import", str(path), "--state-dir", str(tmp_path)]) == 2
    assert "no 'name' column" in capsys.readouterr().err


def _reset_stack(suite, moto_server):
    """What ``make run RESET=1`` does to the stack: empty tables (the same endpoint and prefix)."""
    from infra.local.stack import local_environment, provision
    from infra.local.stack_session import configure_process

    moto_server.reset()
    env = local_environment(moto_server.url, suite.prefix, "us-east-1",
                            provision(moto_server.url, suite.prefix, "us-east-1"))
    configure_process(env)


def test_the_checkpoint_is_per_stack_so_a_reset_stack_is_imported_again(suite, moto_server, tmp_path, _cli_storage,
                                                                        capsys):
    from chalicelib.store.models import CustomerItem

    path = _write(tmp_path)
    state = str(tmp_path / "state")
    cli.main(["customers", "import", str(path), "--state-dir", state, "--quiet"])
    first = json.loads(capsys.readouterr().out)
    assert first["imported"] == 3
    # WHEN the stack is reset (same endpoint and prefix) and the same file is imported again
    _reset_stack(suite, moto_server)
    assert CustomerItem.count() == 0
    cli.main(["customers", "import", str(path), "--state-dir", state, "--quiet"])
    again = json.loads(capsys.readouterr().out)
    # THEN it is imported again, not "resumed" into nothing
    assert again["imported"] == 3 and CustomerItem.get("uscc:914403001922038216").name == "华为技术有限公司"
    # AND the same file into the same stack still resumes (nothing left to do, nothing written twice)
    cli.main(["customers", "import", str(path), "--state-dir", state, "--quiet"])
    assert json.loads(capsys.readouterr().out)["imported"] == 3


def test_a_storage_timeout_during_import_is_retried_not_a_traceback(suite, tmp_path, _cli_storage, monkeypatch,
                                                                     capsys):
    from botocore.exceptions import ReadTimeoutError

    from chalicelib.store import companies

    real = companies.import_customer
    calls = {"n": 0}

    def flaky(*a, **kw):
        calls["n"] += 1
        if calls["n"] in (1, 2):  # moto answering too slowly under load, twice
            raise ReadTimeoutError(endpoint_url="http://127.0.0.1:1")
        return real(*a, **kw)

    monkeypatch.setattr(companies, "import_customer", flaky)
    monkeypatch.setattr(customers_cli, "RETRY_BASE_SECONDS", 0.01)
    code = cli.main(["customers", "import", str(_write(tmp_path)), "--state-dir", str(tmp_path / "s"), "--quiet"])
    out = capsys.readouterr()
    assert code == 1 and json.loads(out.out)["imported"] == 3 and "Traceback" not in out.err
