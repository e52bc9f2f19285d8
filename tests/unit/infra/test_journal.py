"""``infra.local.persist``: the journal keeps every write that was synced through a SIGKILL (also while folds
run in the background), a fold keeps the last image of each item, a torn last line is ignored, and the
snapshot of earlier versions is read once."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

from infra.local import persist

ROOT = Path(__file__).resolve().parents[3]
KEYS = ("pk", "sk")

# A child process: moto server + a journal (tiny fold threshold: folds run during the writes), then a mix of
# writes, each synced as `make run` does before answering; it prints the expected table after each write.
WRITER = r"""
import json, sys, random
from pathlib import Path
import botocore.session
from infra.local import persist
from infra.local.stack import MotoServer

state, region = Path(sys.argv[1]), "eu-west-3"
moto = MotoServer().start()
s = botocore.session.Session()
ddb = s.create_client("dynamodb", region_name=region, endpoint_url=moto.url, aws_access_key_id="t", aws_secret_access_key="t")
sm = s.create_client("secretsmanager", region_name=region, endpoint_url=moto.url, aws_access_key_id="t", aws_secret_access_key="t")
ddb.create_table(TableName="j", BillingMode="PAY_PER_REQUEST",
                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
                 KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
backends = lambda: moto.backends(region)
number, _ = persist.recover(state, backends, sm)
journal = persist.Journal(state, backends, number=number, prefix="p", compact_bytes=3000, flush_every=0.05)
moto.app.after_write = journal.record
journal.start()
rng = random.Random(7)
expected = {}
def key(i):
    return {"pk": {"S": f"p{i % 5}"}, "sk": {"S": f"s{i}"}}
for n in range(400):
    i = rng.randrange(60)
    kind = rng.choice(["put", "put", "update", "delete", "tx", "batch", "cancel"])
    if kind == "put":
        item = {**key(i), "v": {"N": str(n)}, "name": {"S": "深圳市腾讯\t" + str(n)}, "tags": {"SS": ["a", str(n)]}}
        ddb.put_item(TableName="j", Item=item); expected[str(i)] = item
    elif kind == "update":
        ddb.update_item(TableName="j", Key=key(i), UpdateExpression="ADD c :one SET m = :m",
                        ExpressionAttributeValues={":one": {"N": "1"}, ":m": {"M": {"x": {"L": [{"S": "y"}, {"NULL": True}]}}}})
        item = expected.get(str(i), key(i)).copy()
        item["c"] = {"N": str(int(item.get("c", {"N": "0"})["N"]) + 1)}
        item["m"] = {"M": {"x": {"L": [{"S": "y"}, {"NULL": True}]}}}
        expected[str(i)] = item
    elif kind == "delete":
        ddb.delete_item(TableName="j", Key=key(i)); expected.pop(str(i), None)
    elif kind == "batch":
        ks = sorted({rng.randrange(60) for _ in range(4)})
        ddb.batch_write_item(RequestItems={"j": [{"PutRequest": {"Item": {**key(k), "b": {"S": str(n)}}}} for k in ks]})
        for k in ks:
            expected[str(k)] = {**key(k), "b": {"S": str(n)}}
    else:
        ks = sorted({rng.randrange(60) for _ in range(3)})
        ops = [{"Put": {"TableName": "j", "Item": {**key(k), "t": {"S": str(n)}}}} for k in ks]
        if kind == "cancel":
            ops.append({"ConditionCheck": {"TableName": "j", "Key": {"pk": {"S": "none"}, "sk": {"S": "none"}},
                                           "ConditionExpression": "attribute_exists(pk)"}})
        try:
            ddb.transact_write_items(TransactItems=ops)
            for k in ks:
                expected[str(k)] = {**key(k), "t": {"S": str(n)}}
        except ddb.exceptions.TransactionCanceledException:
            pass
    if n == 200:
        sm.create_secret(Name="p/partner", SecretString="s1")
        sm.create_secret(Name="other/x", SecretString="not ours")
    if n == 300:
        sm.put_secret_value(SecretId="p/partner", SecretString="s2")
    assert journal.wait_saved(journal.changes)  # what `make run` does before answering
    print(json.dumps({"n": n, "expected": expected, "folds": journal.compactions}), flush=True)
print("done", flush=True)
import time; time.sleep(600)
"""

READER = r"""
import json, sys
from pathlib import Path
import botocore.session
from infra.local import persist
from infra.local.stack import MotoServer

state, region = Path(sys.argv[1]), "eu-west-3"
moto = MotoServer().start()
s = botocore.session.Session()
ddb = s.create_client("dynamodb", region_name=region, endpoint_url=moto.url, aws_access_key_id="t", aws_secret_access_key="t")
sm = s.create_client("secretsmanager", region_name=region, endpoint_url=moto.url, aws_access_key_id="t", aws_secret_access_key="t")
ddb.create_table(TableName="j", BillingMode="PAY_PER_REQUEST",
                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
                 KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
persist.recover(state, lambda: moto.backends(region), sm)
items = ddb.scan(TableName="j")["Items"]
print(json.dumps({"items": items, "secret": sm.get_secret_value(SecretId="p/partner")["SecretString"]}))
"""


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'functions'}", "AWS_ACCESS_KEY_ID": "t",
            "AWS_SECRET_ACCESS_KEY": "t"}


def test_sigkill_mid_run_loses_no_synced_write_even_while_folds_run(tmp_path):
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT, env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    last = None
    try:
        for line in writer.stdout:  # type: ignore[union-attr]
            if line.startswith("{"):
                last = json.loads(line)
            if line.startswith("done") or (last and last["n"] >= 399):
                break
    finally:
        writer.send_signal(signal.SIGKILL)  # right after the last synced write: no clean stop, no final fold
        writer.wait(timeout=30)
    assert last is not None and last["n"] == 399 and last["folds"] >= 2  # folds ran during the writes
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    reader = subprocess.run([sys.executable, "-c", READER, str(tmp_path)], cwd=ROOT, env=_env(),
                            capture_output=True, text=True, timeout=120)
    assert reader.returncode == 0, reader.stderr[-3000:]
    restored = json.loads(reader.stdout.strip().splitlines()[-1])
    got = {i["sk"]["S"][1:]: i for i in restored["items"]}
    assert got == last["expected"]
    assert restored["secret"] == "s2"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("journal-")] == []  # folded at the start


def _journal(path: Path, lines: list[str]) -> None:
    path.write_text("".join(lines), encoding="utf-8")


def _change(table: str, i: int, item: dict | None) -> list:
    key = {"pk": {"S": f"k{i}"}, "sk": {"S": "#"}}
    return ["T", table, persist.canonical_key(key, KEYS), None if item is None else json.dumps({**key, **item})]


def test_fold_keeps_the_last_image_of_each_item_and_ignores_a_torn_last_line(tmp_path):
    keys = {"t": KEYS}
    _journal(tmp_path / "journal-000001.jsonl", [
        json.dumps([_change("t", 1, {"v": {"S": "one"}}), _change("t", 2, {"v": {"S": "two"}})]) + "\n",
        json.dumps([["S", {"p/a": "x"}]]) + "\n",
    ])
    assert persist.fold(tmp_path, keys) == {"t": 2}
    _journal(tmp_path / "journal-000002.jsonl", [
        json.dumps([_change("t", 1, None), _change("t", 3, {"v": {"S": "three"}})]) + "\n",
        json.dumps([_change("t", 2, {"v": {"S": "two again"}})]) + "\n",
        json.dumps([["S", {"p/a": "y"}]]) + "\n",
        json.dumps([_change("t", 3, None)])[:-7],  # torn: the process died mid-append
    ])
    assert persist.fold(tmp_path, keys) == {"t": 2}
    tables, secrets = persist.read_snapshot(tmp_path)
    assert sorted((i["pk"]["S"], i["v"]["S"]) for i in tables["t"]) == [("k2", "two again"), ("k3", "three")]
    assert secrets == {"p/a": "y"}
    assert persist.journal_numbers(tmp_path) == []
    header = (tmp_path / persist.SNAPSHOT).read_text().splitlines()[0]
    assert json.loads(header[2:])["through"] == 2
    # a journal already folded (a crash after the snapshot was replaced, before it was deleted) is skipped
    _journal(tmp_path / "journal-000002.jsonl", [json.dumps([_change("t", 9, {"v": {"S": "stale"}})]) + "\n"])
    persist.fold(tmp_path, keys)
    assert "stale" not in (tmp_path / persist.SNAPSHOT).read_text()
    assert persist.journal_numbers(tmp_path) == []  # and deleted: left, it would outlive every later fold
    # the same through a background fold (a bounded ``through``), with a newer journal kept for the next one
    _journal(tmp_path / "journal-000001.jsonl", [json.dumps([_change("t", 8, {"v": {"S": "stale"}})]) + "\n"])
    _journal(tmp_path / "journal-000003.jsonl", [json.dumps([_change("t", 4, {"v": {"S": "four"}})]) + "\n"])
    _journal(tmp_path / "journal-000004.jsonl", [json.dumps([_change("t", 5, {"v": {"S": "five"}})]) + "\n"])
    persist.fold(tmp_path, keys, through=3)
    assert persist.journal_numbers(tmp_path) == [4]
    text = (tmp_path / persist.SNAPSHOT).read_text()
    assert "stale" not in text and "four" in text and "five" not in text


def test_the_snapshot_of_earlier_versions_is_the_base_once(tmp_path):
    legacy = {"tables": {"t": [{"pk": {"S": "k1"}, "sk": {"S": "#"}, "v": {"S": "old"}},
                               {"pk": {"S": "k2"}, "sk": {"S": "#"}, "v": {"S": "kept"}}]},
              "secrets": {"p/a": "s"}}
    (tmp_path / persist.LEGACY_SNAPSHOT).write_text(json.dumps(legacy))
    _journal(tmp_path / "journal-000001.jsonl", [json.dumps([_change("t", 1, {"v": {"S": "new"}})]) + "\n"])
    persist.fold(tmp_path, {"t": KEYS})
    tables, secrets = persist.read_snapshot(tmp_path)
    assert sorted(i["v"]["S"] for i in tables["t"]) == ["kept", "new"] and secrets == {"p/a": "s"}
    assert not (tmp_path / persist.LEGACY_SNAPSHOT).exists()


def test_a_write_the_journal_could_not_record_is_never_reported_saved(tmp_path):
    class _Backends:
        tables: dict = {}

    journal = persist.Journal(tmp_path, lambda: (_Backends, None), number=1, flush_every=60)
    journal.record("PutItem", b"{not json")
    assert journal.failed
    journal._file.write("[]\n")
    journal._appended += 1
    assert journal.wait_saved(journal.changes, timeout=5) is False  # durable_answers then logs a warning
    assert (tmp_path / "journal-000001.jsonl").read_text() == "[]\n"  # what was appended is synced all the same
