"""infra/package.py: runtime pins, the merge template, IAM, vendoring and the strict dependency build.

The whole build (`make package`, then cfn-lint) runs in `make test` after pytest; these tests cover the
decisions it makes, offline. Chalice's dependency builder runs for real here, over a fake pip.
"""
from __future__ import annotations

import io
import json
import os
import re
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
from chalice.package import TemplateDeepMerger
from chalice.utils import OSUtils
from packaging.requirements import Requirement

from infra import iam, package as pkg
from infra.resources import resources

ROOT = Path(__file__).resolve().parents[2]


# --- runtime pins ------------------------------------------------------------------------------------


def _requirements(lines: list[str]) -> dict[str, str]:
    reqs = [Requirement(line) for line in lines]
    out = {re.sub(r"[-_.]+", "-", r.name).lower(): str(r.specifier) for r in reqs}
    assert len(out) == len(reqs), "a package is listed twice"
    return out


def test_requirements_txt_pins_pyproject_runtime_deps_except_chalice():
    # GIVEN pyproject's runtime dependencies and the Lambda bundle's requirements.txt
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    text = (ROOT / "functions/requirements.txt").read_text()
    lines = [ln.split("#")[0].strip() for ln in text.splitlines()]
    bundle = _requirements([ln for ln in lines if ln])
    # THEN they are the same pins, minus chalice (chalice package adds its own runtime to the zip)
    expected = _requirements(project)
    expected.pop("chalice")
    assert bundle == expected
    # boto3 stays: pynamodb pulls botocore into the zip anyway, and this pins it to the tested version
    assert bundle["boto3"].startswith("==")
    # botocore exactly: store.aws relies on private parts of the tested version
    assert bundle["botocore"].startswith("==")


def test_every_stage_prefix_is_dealreg_stage():
    stages = pkg.load_config()["stages"]
    assert stages, "config.json has no stages"
    for stage in stages:
        assert pkg.stage_prefix(stage) == f"dealreg-{stage}"


def test_unknown_stage_is_refused():
    with pytest.raises(pkg.PackagingError, match="nope"):
        pkg.stage_prefix("nope")


# --- the merge template ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shape() -> pkg.AppShape:
    return pkg.describe_app({"DEALREG_PREFIX": "dealreg-dev"})


@pytest.fixture(scope="module")
def declared(shape) -> pkg.AppShape:
    """The app without functions that lack grants: one such function then fails one test
    (test_every_app_function_has_declared_grants), not every test below."""
    return pkg.AppShape(functions=tuple(f for f in shape.functions if f in iam.GRANTS),
                        event_sources=tuple(s for s in shape.event_sources if s.function in iam.GRANTS))


@pytest.fixture(scope="module")
def merged(declared) -> dict[str, Any]:
    return pkg.merge_template(declared, "dealreg-dev")


def test_every_app_function_has_declared_grants(shape):
    # make package refuses to build otherwise (test_a_function_without_declared_grants_fails_the_build)
    assert [f for f in shape.functions if f not in iam.GRANTS] == []


def _references(node: Any) -> set[str]:
    """Logical ids named by Ref, Fn::GetAtt and ${X} / ${X.Attr} in Fn::Sub, anywhere under node."""
    found: set[str] = set()
    if isinstance(node, dict):
        if "Ref" in node:
            found.add(node["Ref"])
        if "Fn::GetAtt" in node:
            found.add(node["Fn::GetAtt"][0])
        if "Fn::Sub" in node:
            found.update(m.split(".")[0] for m in re.findall(r"\$\{([^}]+)\}", node["Fn::Sub"]))
        for value in node.values():
            found |= _references(value)
    elif isinstance(node, list):
        for value in node:
            found |= _references(value)
    return {r for r in found if not r.startswith("AWS::")}


def test_app_shape_lists_the_api_and_each_event_handler(shape):
    assert "api_handler" in shape.functions
    kinds = {s.function: s.kind for s in shape.event_sources}
    assert {"publish_domain_events": "dynamodb", "review_submissions": "sqs"}.items() <= kinds.items()
    assert set(kinds) <= set(shape.functions)


def test_stream_events_get_retry_limit_bisect_failure_queue_and_partial_batches(declared, merged):
    streams = [s for s in declared.event_sources if s.kind == "dynamodb"]
    assert streams
    for source in streams:
        fn = merged["Resources"][pkg.function_logical_id(source.function)]
        props = fn["Properties"]["Events"][pkg.event_logical_id(source)]["Properties"]
        assert props["Stream"] == {"Fn::GetAtt": ["RegistrationsTable", "StreamArn"]}
        assert props["MaximumRetryAttempts"] == pkg.STREAM_MAX_RETRIES
        assert props["BisectBatchOnFunctionError"] is True
        assert props["DestinationConfig"]["OnFailure"]["Destination"] == {
            "Fn::GetAtt": ["StreamFailuresDeadLetterQueue", "Arn"]}
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_queue_events_report_partial_batches_and_reference_the_queue(declared, merged):
    queues = [s for s in declared.event_sources if s.kind == "sqs"]
    assert queues
    for source in queues:
        props = merged["Resources"][pkg.function_logical_id(source.function)]["Properties"]
        event = props["Events"][pkg.event_logical_id(source)]["Properties"]
        assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        (target,) = _references(event["Queue"])
        assert merged["Resources"][target]["Properties"]["QueueName"] == source.queue


def test_generated_names_follow_chalice():
    # Names as chalice 1.34 writes them into sam.json (checked against `chalice package` output).
    src = pkg.EventSource(function="review_submissions", kind="sqs", queue="q")
    assert pkg.event_logical_id(src) == "ReviewSubmissionsSqsEventSource"
    assert pkg.function_logical_id("api_handler") == "APIHandler"
    assert pkg.role_logical_id("api_handler") == "ApiHandlerRole"
    assert pkg.role_logical_id("publish_domain_events") == "PublishDomainEventsRole"


def test_every_function_gets_environment_and_a_role_policy(declared, merged):
    res = merged["Resources"]
    for function in declared.functions:
        env = res[pkg.function_logical_id(function)]["Properties"]["Environment"]["Variables"]
        assert set(env) == {"DEALREG_EVENTS_TOPIC_ARN", "DEALREG_REGISTRATIONS_STREAM_ARN", "DEALREG_FUNCTION"}
        assert env["DEALREG_FUNCTION"] == function
        policies = res[pkg.role_logical_id(function)]["Properties"]["Policies"]
        # The logs policy comes first (the merge replaces Chalice's whole list): the function's own log group,
        # by reference, so it holds for any stack name (no "dealreg-*" name pattern).
        logs = policies[0]["PolicyDocument"]["Statement"][0]
        assert logs["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
        log_group = f"{pkg.function_logical_id(function)}LogGroup"
        assert logs["Resource"] == [{"Fn::GetAtt": [log_group, "Arn"]}]
        assert res[log_group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert "dealreg-" not in json.dumps(policies[0])


def test_every_reference_in_the_merge_template_names_a_defined_resource(merged):
    res = merged["Resources"]
    # ours (with a Type), Chalice's (overridden here: functions, roles, the API) and the parameters
    defined = set(res) | set(merged["Parameters"])
    assert _references(res) <= defined
    # every condition used is declared, and every parameter has a default (deploys need no overrides)
    used = set(re.findall(r'"(?:Condition|Fn::If)": \[?"(\w+)"', json.dumps(res)))
    assert used and used <= set(merged["Conditions"])
    assert all("Default" in p for p in merged["Parameters"].values())


def _access(merged: dict[str, Any], function: str) -> list[dict[str, Any]]:
    policies = merged["Resources"][pkg.role_logical_id(function)]["Properties"]["Policies"]
    return policies[1]["PolicyDocument"]["Statement"]


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    return {a for st in statements for a in st["Action"]}


def test_access_policies_never_grant_wildcards(declared, merged):
    for function in declared.functions:
        for st in _access(merged, function):
            assert st["Effect"] == "Allow"
            assert "*" not in st["Resource"]
            assert not any(a.endswith("*") for a in st["Action"])


def test_declared_grants_reach_each_policy_unchanged(declared, merged):
    for function in declared.functions:
        statements = _access(merged, function)
        declared = [st for g in iam.GRANTS[function] for st in g.statements("dealreg-dev")]
        assert statements[: len(declared)] == declared


def test_event_source_permissions_go_to_exactly_the_consumers(declared, merged):
    for function in declared.functions:
        by_action: dict[str, list[Any]] = {}
        for st in _access(merged, function):
            for action in st["Action"]:
                by_action.setdefault(action, []).extend(st["Resource"])
        sources = [s for s in declared.event_sources if s.function == function]
        queues = [pkg.bind_event_source(s, "dealreg-dev", resources("dealreg-dev"))
                  for s in sources if s.kind == "sqs"]
        streams = [s for s in sources if s.kind == "dynamodb"]
        # only a queue's consumer receives from it, and from nothing else
        assert by_action.get("sqs:ReceiveMessage", []) == [{"Fn::GetAtt": [b.reads, "Arn"]} for b in queues]
        # GetQueueUrl on its DLQ (parking), plus on its own queue only where its code declares it (backoff)
        own = [r for g in iam.GRANTS[function] if "sqs:GetQueueUrl" in g.actions for r in g.resources("dealreg-dev")]
        assert by_action.get("sqs:GetQueueUrl", []) == own + [{"Fn::GetAtt": [b.failures, "Arn"]} for b in queues]
        # only a stream consumer reads streams
        assert bool(by_action.get("dynamodb:GetRecords")) == bool(streams)
        if streams:
            assert {"Fn::GetAtt": ["StreamFailuresDeadLetterQueue", "Arn"]} in by_action["sqs:SendMessage"]


def test_api_handler_can_run_the_registration_transaction_and_read_partner_secrets(merged):
    # create() is one TransactWriteItems: Put registration, Update customer, Put claims, each with a
    # condition, and IAM checks every item's own action.
    granted: dict[str, set[str]] = {}
    for st in _access(merged, "api_handler"):
        for r in st["Resource"]:
            granted.setdefault(json.dumps(r), set()).update(st["Action"])
    def on(table: str) -> set[str]:
        return granted.get(json.dumps({"Fn::GetAtt": [table, "Arn"]}), set())

    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem"} <= on("RegistrationsTable")
    assert "dynamodb:UpdateItem" in on("CustomersTable")
    # the claims are read in one BatchGetItem before the transaction (issue 14: missing, every create 500ed)
    assert {"dynamodb:PutItem", "dynamodb:BatchGetItem"} <= on("ClaimsTable")
    # the directory: key look-ups, the admin listing's scan, and the admin routes' conditional Put/Update
    # (issue 18; never Delete or BatchWrite); the tender feeds' own state is the poller's
    assert on("DirectoryTable") == {"dynamodb:GetItem", "dynamodb:Scan", "dynamodb:PutItem", "dynamodb:UpdateItem"}
    assert on("TenderFeedsTable") == on("TenderRefsTable") == on("TenderAlertsTable") == set()
    assert "dynamodb:Query" in granted[json.dumps({"Fn::Sub": "${RegistrationsTable.Arn}/index/*"})]
    partners = json.dumps({"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:"
                                      "secret:dealreg-dev/partners/*"})
    # partner secrets: read by intake; created and rotated by the admin routes (issue 18)
    assert granted[partners] == {"secretsmanager:GetSecretValue", "secretsmanager:CreateSecret",
                                 "secretsmanager:PutSecretValue"}
    console = json.dumps({"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:"
                                     "secret:dealreg-dev/console/*"})
    assert granted[console] == {"secretsmanager:GetSecretValue"}  # the cookie key is never written by the API


def test_secrets_are_scoped_to_the_stage_prefix(declared, merged):
    for function in declared.functions:
        for st in _access(merged, function):
            for r in st["Resource"]:
                if ":secret:" in json.dumps(r):
                    assert r["Fn::Sub"].split(":secret:", 1)[1].startswith("dealreg-dev/")


def test_grants_for_queues_reference_the_queue():
    grant = iam.Grant(("sqs:ChangeMessageVisibility",), queues=("workflow",))
    assert grant.resources("dealreg-dev") == [{"Fn::GetAtt": ["WorkflowQueue", "Arn"]}]


def test_index_access_only_for_tables_with_indexes(merged):
    resources_ = {json.dumps(r) for st in _access(merged, "api_handler") for r in st["Resource"]}
    assert json.dumps({"Fn::Sub": "${RegistrationsTable.Arn}/index/*"}) in resources_
    assert json.dumps({"Fn::Sub": "${ClaimsTable.Arn}/index/*"}) not in resources_
    # indexes are only ever queried; a hash-only table is never queried (that would be a GetItem)
    for st in _access(merged, "api_handler"):
        if any("/index/" in json.dumps(r) for r in st["Resource"]):
            assert st["Action"] == ["dynamodb:Query"]
        if st["Action"] == ["dynamodb:Query"]:
            assert {"Fn::GetAtt": ["RegistrationsTable", "Arn"]} not in st["Resource"]


def test_a_function_without_declared_grants_fails_the_build(declared):
    new = pkg.AppShape(functions=(*declared.functions, "reclaim_stale_claims"),
                       event_sources=declared.event_sources)
    with pytest.raises(pkg.PackagingError, match="reclaim_stale_claims.*infra/iam.py"):
        pkg.merge_template(new, "dealreg-dev")


def test_an_event_source_on_an_undefined_queue_fails_the_build():
    source = pkg.EventSource(function="review_submissions", kind="sqs", queue="dealreg-dev-nowhere")
    with pytest.raises(pkg.PackagingError, match="dealreg-dev-nowhere"):
        pkg.bind_event_source(source, "dealreg-dev", resources("dealreg-dev"))


def test_kinesis_sources_are_refused_until_they_have_rules():
    with pytest.raises(ValueError):
        iam.event_source_statements("kinesis", "S", "F")


def test_queue_override_replaces_chalices_queue_value_in_the_merge(merged):
    # GIVEN Chalice's generated SQS event (its Queue is a Fn::Sub on the queue name)
    chalice_out = {"Resources": {"ReviewSubmissions": {"Type": "AWS::Serverless::Function", "Properties": {
        "Events": {"ReviewSubmissionsSqsEventSource": {"Type": "SQS", "Properties": {
            "Queue": {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:"
                                 "dealreg-dev-workflow"},
            "BatchSize": 10}}}}}}}
    override = {"Resources": {"ReviewSubmissions": merged["Resources"]["ReviewSubmissions"]}}
    # WHEN Chalice's merger (the one --merge-template uses) joins them
    out = TemplateDeepMerger().merge(override, chalice_out)
    # THEN the queue is one clean reference, and verify_template agrees
    event = out["Resources"]["ReviewSubmissions"]["Properties"]["Events"]["ReviewSubmissionsSqsEventSource"]
    assert event["Properties"]["Queue"] == {"Fn::Sub": "${WorkflowQueue.Arn}"}
    only_sqs = pkg.AppShape(functions=("review_submissions",), event_sources=(
        pkg.EventSource(function="review_submissions", kind="sqs", queue="dealreg-dev-workflow"),))
    assert pkg.verify_template(out, only_sqs) == []
    # AND a GetAtt would have been joined with Chalice's Sub, which verify_template reports
    bad = TemplateDeepMerger().merge({"Resources": {"ReviewSubmissions": {"Properties": {"Events": {
        "ReviewSubmissionsSqsEventSource": {"Properties": {
            "Queue": {"Fn::GetAtt": ["WorkflowQueue", "Arn"]}}}}}}}},
        chalice_out)
    assert any("mixes" in p for p in pkg.verify_template(bad, only_sqs))


def test_verify_template_reports_overrides_that_matched_nothing():
    shape_ = pkg.AppShape(functions=("review_submissions",), event_sources=(
        pkg.EventSource(function="review_submissions", kind="sqs", queue="q"),))
    template = {"Resources": {"ReviewSubmision": {"Properties": {}}}}
    problems = pkg.verify_template(template, shape_)
    assert any("ReviewSubmision has no Type" in p for p in problems)
    assert any("lacks ReportBatchItemFailures" in p for p in problems)


# --- vendor/ and the deployments cache ---------------------------------------------------------------


def test_vendor_packages_copies_fresh_without_bytecode(tmp_path):
    root, project = tmp_path / "repo", tmp_path / "repo/functions"
    (root / "schemas/json").mkdir(parents=True)
    (root / "schemas/__init__.py").write_text("X = 1\n")
    (root / "schemas/json/a.v1.json").write_text("{}")
    (root / "schemas/__pycache__").mkdir()
    (root / "schemas/__pycache__/__init__.cpython-311.pyc").write_bytes(b"\0")
    (project / "vendor/old").mkdir(parents=True)

    vendor = pkg.vendor_packages(root, project, ("schemas",))

    files = sorted(p.relative_to(vendor).as_posix() for p in vendor.rglob("*") if p.is_file())
    assert files == ["schemas/__init__.py", "schemas/json/a.v1.json"]


def test_deployments_cache_is_lent_to_chalice_and_parked_again(tmp_path):
    project, out = tmp_path / "functions", tmp_path / "build"
    (project / ".chalice").mkdir(parents=True)
    (out / pkg.CACHE_DIR_NAME).mkdir(parents=True)
    (out / pkg.CACHE_DIR_NAME / "old-python3.11.zip").write_bytes(b"old")
    live = project / ".chalice/deployments"

    with pkg.parked_deployments_cache(project, out):
        assert (live / "old-python3.11.zip").exists()  # Chalice sees its cache
        (live / "new-python3.11.zip").write_bytes(b"new")

    assert not live.exists()  # the project dir is left as it was
    assert [p.name for p in (out / pkg.CACHE_DIR_NAME).iterdir()] == ["new-python3.11.zip"]


# --- the strict dependency build (Chalice's DependencyBuilder over a fake pip) ----------------------------


def _wheel(directory: Path, filename: str) -> None:
    name, version = filename.split("-")[:2]
    with zipfile.ZipFile(directory / filename, "w") as zf:
        zf.writestr(f"{name}/__init__.py", "")
        zf.writestr(f"{name}-{version}.dist-info/WHEEL", "Wheel-Version: 1.0\n")


def _sdist(directory: Path, name: str, version: str, extra: dict[str, str]) -> Path:
    path = directory / f"{name}-{version}.tar.gz"
    files = {"PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", **extra}
    with tarfile.open(path, "w:gz") as tf:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-{version}/{rel}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


class FakePip:
    """Stands in for chalice's SubprocessPip: `pip download -r` yields `first`, `pip wheel` yields `built`."""

    def __init__(self, first: list[str], built: dict[str, str], sdists: dict[str, dict[str, str]]) -> None:
        self.first, self.built, self.sdists = first, built, sdists
        self.calls: list[list[str]] = []

    def main(self, args: list[str], env_vars: Any = None, shim: Any = None) -> tuple[int, bytes, bytes]:
        self.calls.append(args)
        if args[0] == "download" and "-r" in args:
            dest = Path(args[args.index("--dest") + 1])
            for filename in self.first:
                if filename.endswith(".whl"):
                    _wheel(dest, filename)
                else:
                    name, version = filename[: -len(".tar.gz")].rsplit("-", 1)
                    _sdist(dest, name, version, self.sdists[filename])
        elif args[0] == "wheel":
            sdist = Path(args[-1]).name
            if sdist in self.built:
                _wheel(Path(args[args.index("--wheel-dir") + 1]), self.built[sdist])
        return 0, b"", b""


def _build(tmp_path: Path, pip: FakePip) -> Path:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("anything==1.0\n")
    builder = pkg.StrictDependencyBuilder(OSUtils(), pip_runner=pkg.StrictPipRunner(pip))
    target = tmp_path / "site-packages"
    builder.build_site_packages("cp311", str(requirements), str(target))
    return target


def test_lambda_wheels_and_pure_python_sdists_are_installed(tmp_path):
    # GIVEN a manylinux wheel and a pure-Python sdist (like sgmllib3k) that builds to py3-none-any
    pip = FakePip(first=["fastlib-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", "sgmlish-1.0.tar.gz"],
                  built={"sgmlish-1.0.tar.gz": "sgmlish-1.0-py3-none-any.whl"},
                  sdists={"sgmlish-1.0.tar.gz": {"setup.py": "", "sgmlish/__init__.py": ""}})
    # WHEN Chalice's builder runs with the strict runner
    target = _build(tmp_path, pip)
    # THEN both are installed, and the sdist was built
    assert (target / "fastlib/__init__.py").exists()
    assert (target / "sgmlish/__init__.py").exists()
    assert any(call[0] == "wheel" for call in pip.calls)


def test_package_with_only_foreign_platform_wheels_fails_before_any_source_build(tmp_path):
    # GIVEN a package whose wheels need a newer glibc than Lambda's (rapidfuzz 3.14.x on python3.11)
    pip = FakePip(first=["rapidfuzz-3.14.1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"],
                  built={}, sdists={})
    # THEN the build fails naming it, and pip never downloads or builds its sdist
    with pytest.raises(pkg.PackagingError, match=r"rapidfuzz==3\.14\.1"):
        _build(tmp_path, pip)
    assert not any(call[0] == "wheel" or "--no-binary=:all:" in call for call in pip.calls)


def test_sdist_with_compiled_code_fails_naming_the_package(tmp_path):
    pip = FakePip(first=["speedy-2.0.tar.gz"],
                  built={"speedy-2.0.tar.gz": "speedy-2.0-cp311-cp311-linux_x86_64.whl"},
                  sdists={"speedy-2.0.tar.gz": {"setup.py": "", "src/_speedy.c": "int x;"}})
    with pytest.raises(pkg.PackagingError, match=r"speedy-2\.0\.tar\.gz .*src/_speedy\.c"):
        _build(tmp_path, pip)
    assert not any(call[0] == "wheel" for call in pip.calls)


def test_sdist_that_builds_a_platform_wheel_anyway_fails(tmp_path):
    # GIVEN an sdist with no recognisable compiled sources whose build still yields a linux-only wheel,
    # which Chalice itself would accept (it treats linux_x86_64 as compatible)
    pip = FakePip(first=["sneaky-1.0.tar.gz"],
                  built={"sneaky-1.0.tar.gz": "sneaky-1.0-cp311-cp311-linux_x86_64.whl"},
                  sdists={"sneaky-1.0.tar.gz": {"setup.py": ""}})
    with pytest.raises(pkg.PackagingError, match=r"sneaky-1\.0\.tar\.gz built sneaky-1\.0-cp311-cp311-linux"):
        _build(tmp_path, pip)


def test_sdist_that_fails_to_build_is_an_error_not_a_warning(tmp_path):
    # GIVEN a pure-looking sdist whose build produces nothing
    pip = FakePip(first=["broken-1.0.tar.gz"], built={}, sdists={"broken-1.0.tar.gz": {"setup.py": ""}})
    # THEN Chalice's "missing dependency" warning becomes an error naming it
    with pytest.raises(pkg.PackagingError, match=r"no Lambda-compatible wheel .*broken==1\.0"):
        _build(tmp_path, pip)


def test_compiled_sources_reads_archives_and_directories(tmp_path):
    compiled = _sdist(tmp_path, "fast", "1.0", {"CMakeLists.txt": "", "fast/core.pyx": "", "fast/a.py": ""})
    pure = _sdist(tmp_path, "plain", "1.0", {"plain/__init__.py": ""})
    assert pkg.compiled_sources(compiled) == ["fast-1.0/CMakeLists.txt", "fast-1.0/fast/core.pyx"]
    assert pkg.compiled_sources(pure) == []
    unpacked = tmp_path / "unpacked"
    (unpacked / "ext").mkdir(parents=True)
    (unpacked / "ext/mod.cpp").write_text("")
    assert pkg.compiled_sources(unpacked) == ["ext/mod.cpp"]


def test_slim_zip_drops_unused_botocore_models_and_adds_unchecked_pycs(tmp_path):
    import gzip
    import importlib.util
    import marshal

    path = tmp_path / "deployment.zip"
    model = gzip.compress(json.dumps({"metadata": {"endpointPrefix": "dynamodb"}, "operations": {}}).encode())
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("botocore/data/endpoints.json", json.dumps({"partitions": [], "version": 3}))
        zf.writestr("botocore/data/dynamodb/2012-08-10/service-2.json.gz", model)
        zf.writestr("botocore/data/s3/2006-03-01/service-2.json.gz", b"x")
        zf.writestr("app.py", "X = 41 + 1\n")
        zf.writestr("chalicelib/mod.py", "Y = 'y'\n")
    # every granted service is kept (a new service needs a grant, which the functional tests enforce)
    assert {"dynamodb", "sqs", "sns", "secretsmanager", "ses"} <= pkg.botocore_services()
    report = pkg.slim_zip(path, pkg.botocore_services())
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        assert "botocore/data/s3/2006-03-01/service-2.json.gz" not in names
        assert {"botocore/data/endpoints.json", "botocore/data/dynamodb/2012-08-10/service-2.json"} <= names
        # and beside each kept data file its pickled form (what chalicelib.store.aws's session reads)
        assert {"botocore/data/endpoints.pickle", "botocore/data/dynamodb/2012-08-10/service-2.pickle"} <= names
        pyc = zf.read(f"chalicelib/__pycache__/mod.{sys.implementation.cache_tag}.pyc")
    assert report["models_dropped"] == 1 and report["pyc_added"] == 2 and report["botocore_data_pickled"] == 2
    assert pyc[:4] == importlib.util.MAGIC_NUMBER and int.from_bytes(pyc[4:8], "little") == 0b01  # unchecked hash
    namespace: dict = {}
    exec(marshal.loads(pyc[16:]), namespace)
    assert namespace["Y"] == "y"


def test_slim_zip_replaces_a_timestamp_pyc_a_local_run_left_beside_the_source(tmp_path):
    # A run of the tests leaves chalicelib/__pycache__/*.pyc (timestamp-checked) that Chalice copies into the zip;
    # kept, they were recompiled at every cold start (the zip keeps mtimes to two seconds; Lambda cannot write).
    import importlib.util
    import marshal
    import py_compile

    src = tmp_path / "mod.py"
    src.write_text("Y = 'new'\n")
    stale = py_compile.compile(str(src), cfile=str(tmp_path / "mod.pyc"),
                               invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    tag = sys.implementation.cache_tag
    path = tmp_path / "deployment.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("chalicelib/mod.py", "Y = 'new'\n")
        zf.write(stale, f"chalicelib/__pycache__/mod.{tag}.pyc")
        zf.write(stale, f"vendored/__pycache__/only.{tag}.pyc")  # no source beside it: kept as it is
    report = pkg.slim_zip(path, pkg.botocore_services())
    with zipfile.ZipFile(path) as zf:
        pycs = [n for n in zf.namelist() if n.endswith(".pyc")]
        pyc = zf.read(f"chalicelib/__pycache__/mod.{tag}.pyc")
    assert sorted(pycs) == [f"chalicelib/__pycache__/mod.{tag}.pyc", f"vendored/__pycache__/only.{tag}.pyc"]
    assert report["pyc_added"] == 1
    assert int.from_bytes(pyc[4:8], "little") == 0b01  # unchecked hash, not the timestamp pyc
    assert pyc[8:16] == importlib.util.source_hash(b"Y = 'new'\n")
    namespace: dict = {}
    exec(marshal.loads(pyc[16:]), namespace)
    assert namespace["Y"] == "new"


def _slimmed_botocore_data(tmp_path: Path, services: set[str]) -> Path:
    """The installed botocore's data of ``services``, through :func:`pkg.botocore_data` as ``make package`` does."""
    import botocore

    src = Path(botocore.__file__).parent / "data"
    wanted = [p for p in src.rglob("*") if p.is_file() and (p.parent == src or p.relative_to(src).parts[0] in services)]
    with zipfile.ZipFile(tmp_path / "in.zip", "w") as zf:
        for p in wanted:
            zf.write(p, "botocore/data/" + p.relative_to(src).as_posix())
    with zipfile.ZipFile(tmp_path / "in.zip") as zf:
        prefixes = pkg._endpoint_prefixes(zf, services)
    out = tmp_path / "slim"
    for p in wanted:
        slimmed = pkg.botocore_data("botocore/data/" + p.relative_to(src).as_posix(), p.read_bytes(), prefixes)
        if slimmed is not None:
            target = out / slimmed[0]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(slimmed[1])
    return out / "botocore" / "data"


def test_slimmed_botocore_data_makes_the_same_clients(tmp_path):
    # GIVEN the kept services' data in the form the zip stores it (trimmed endpoints, no docs, plain JSON)
    import botocore.session
    from botocore.loaders import Loader

    services = {"dynamodb", "dynamodbstreams", "secretsmanager", "ses", "sesv2", "sqs", "sts"}
    slim = _slimmed_botocore_data(tmp_path, services)
    endpoints = json.loads((slim / "endpoints.json").read_text())
    assert set(endpoints["partitions"][0]["services"]) == {"dynamodb", "streams.dynamodb", "secretsmanager",
                                                            "email", "sqs", "sts"}
    assert not list(slim.rglob("service-2.json.gz")) and not list(slim.rglob("examples-1.json"))
    assert b'"documentation"' not in (slim / "dynamodb/2012-08-10/service-2.json").read_bytes()
    assert not (slim / "dynamodb/2012-08-10/service-2.json.gz").exists()

    def client(service: str, region: str, data: Path | None):
        session = botocore.session.get_session()
        if data is not None:
            session.register_component("data_loader", Loader(extra_search_paths=[str(data)],
                                                              include_default_search_paths=False))
        return session.create_client(service, region_name=region, aws_access_key_id="a",
                                     aws_secret_access_key="b")

    # THEN every client is what the full data makes: same endpoint in several partitions, same operations,
    # same input and output shapes (so requests serialise and answers parse alike)
    for service in sorted(services):
        for region in ("us-east-1", "cn-north-1", "eu-central-1"):
            full, slimmed = client(service, region, None), client(service, region, slim)
            assert slimmed.meta.endpoint_url == full.meta.endpoint_url, (service, region)
        full_model, slim_model = full.meta.service_model, slimmed.meta.service_model
        assert slim_model.operation_names == full_model.operation_names
        assert slim_model.metadata == full_model.metadata
        for op in full_model.operation_names:
            a, b = full_model.operation_model(op), slim_model.operation_model(op)
            for shape_a, shape_b in ((a.input_shape, b.input_shape), (a.output_shape, b.output_shape)):
                assert (shape_a and shape_a.members.keys()) == (shape_b and shape_b.members.keys()), (service, op)
            assert b.documentation == ""


def test_pickled_botocore_data_is_what_botocores_json_loader_reads_and_makes_the_same_requests(tmp_path):
    # GIVEN the kept services' data as the zip stores it, and beside every file its pickled form
    import contextlib
    import pickle
    from collections import OrderedDict

    import botocore.session
    from botocore.loaders import JSONFileLoader, Loader

    from chalicelib.store import aws

    assert aws.PICKLED_SUFFIX == pkg.PICKLED_SUFFIX
    services = {"dynamodb", "dynamodbstreams", "secretsmanager", "sns", "sqs", "sts"}
    slim = _slimmed_botocore_data(tmp_path, services)
    pickled_only = tmp_path / "pickled"  # the pickles alone: a client built from it cannot have read any JSON
    for path in [p for p in slim.rglob("*") if p.is_file()]:
        name, blob = pkg.botocore_pickle("botocore/data/" + path.relative_to(slim).as_posix(), path.read_bytes())
        target = pickled_only / name.removeprefix("botocore/data/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
        stem = str(path).removesuffix(".gz").removesuffix(".json")
        # THEN each pickle holds exactly what botocore's JSON loader parses: equal, and of the same types
        # (OrderedDict all the way down, as its object_pairs_hook makes them)
        expected, got = JSONFileLoader().load_file(stem), pickle.loads(blob)

        def same_types(a, b):
            assert type(a) is type(b), (type(a), type(b))
            if isinstance(a, dict):
                assert list(a) == list(b)
                for k in a:
                    same_types(a[k], b[k])
            elif isinstance(a, list):
                for x, y in zip(a, b, strict=True):
                    same_types(x, y)

        assert got == expected and isinstance(got, OrderedDict)
        same_types(expected, got)
    assert {p.name for p in pickled_only.iterdir()} >= {"endpoints.pickle", "partitions.pickle", "_retry.pickle",
                                                       "sdk-default-configuration.pickle"}
    assert not [p for p in pickled_only.rglob("*") if p.suffix in (".json", ".gz")]

    sent: list[tuple[str, str, dict, Any, bytes]] = []

    def client(service: str, region: str, data: Path, pickled: bool):
        session = botocore.session.get_session()
        loader = Loader(extra_search_paths=[str(data)], include_default_search_paths=False,
                        file_loader=aws.PackagedDataFiles(str(data) + os.sep) if pickled else None)
        session.register_component("data_loader", loader)
        made = session.create_client(service, region_name=region, aws_access_key_id="a", aws_secret_access_key="b")
        made.meta.events.register("before-send", record)
        return made

    class Sent(Exception):
        pass

    def record(request, **_):  # what would go on the wire (nothing is sent): the signing scope, not the date
        headers = {k: v for k, v in request.headers.items() if k.lower() not in
                   ("x-amz-date", "user-agent", "amz-sdk-invocation-id", "amz-sdk-request")}
        scope = re.sub(rb"/\d{8}/|, Signature=[0-9a-f]+", b"/", headers.pop("Authorization"))
        sent.append((request.method, request.url, headers, request.body, scope))
        raise Sent

    calls = {"dynamodb": ("describe_table", {"TableName": "t"}), "sqs": ("get_queue_url", {"QueueName": "q"}),
             "sns": ("get_topic_attributes", {"TopicArn": "arn:aws:sns:us-east-1:1:t"}),
             "secretsmanager": ("get_secret_value", {"SecretId": "s"}), "sts": ("get_caller_identity", {}),
             "dynamodbstreams": ("list_streams", {})}
    # AND a client from the pickles alone is the one the JSON makes: same endpoint in several partitions, same
    # model, same retry configuration, and the same request on the wire (method, URL, headers but the signature's)
    for service in sorted(services):
        for region in ("us-east-1", "cn-north-1", "eu-central-1"):
            stock, packaged = client(service, region, slim, False), client(service, region, pickled_only, True)
            assert packaged.meta.endpoint_url == stock.meta.endpoint_url, (service, region)
            assert packaged.meta.service_model.operation_names == stock.meta.service_model.operation_names
            assert packaged.meta.service_model.metadata == stock.meta.service_model.metadata
            assert packaged.meta.config.retries == stock.meta.config.retries
            assert packaged._endpoint.http_session._max_pool_connections == stock._endpoint.http_session._max_pool_connections
            op, params = calls[service]
            sent.clear()
            for c in (stock, packaged):
                with contextlib.suppress(Sent):
                    getattr(c, op)(**params)
            assert len(sent) == 2 and sent[0] == sent[1], (service, region, sent)


def test_the_shared_session_reads_botocores_data_through_the_packaged_loader():
    # Outside the zip there are no pickles: the JSON is read as before, through botocore's own Loader
    from botocore.loaders import Loader

    from chalicelib.store import aws

    session = aws.new_session()
    loader = session.get_component("data_loader")
    assert type(loader) is Loader and isinstance(loader.file_loader, aws.PackagedDataFiles)
    assert loader.search_paths == botocore_default_search_paths()
    assert "dynamodb" in loader.list_available_services("service-2")


def test_pickles_are_read_only_from_botocores_own_data_folder(tmp_path):
    """Review of session 8: other search paths (AWS_DATA_PATH, ~/.aws/models) are read as JSON, never unpickled."""
    import pickle

    from chalicelib.store import aws

    elsewhere = tmp_path / "models" / "endpoints"
    elsewhere.parent.mkdir()
    elsewhere.with_suffix(".json").write_text('{"from": "json"}')
    (tmp_path / "models" / ("endpoints" + aws.PICKLED_SUFFIX)).write_bytes(pickle.dumps({"from": "pickle"}))
    files = aws.PackagedDataFiles()
    assert files.root == aws.BOTOCORE_DATA and files.load_file(str(elsewhere)) == {"from": "json"}
    assert aws.PackagedDataFiles(str(tmp_path) + os.sep).load_file(str(elsewhere)) == {"from": "pickle"}


def botocore_default_search_paths() -> list[str]:
    import botocore.session

    return botocore.session.get_session().get_component("data_loader").search_paths


def test_tqdm_is_dropped_from_the_zip_and_no_function_imports_it():
    # tqdm is the operator CLI's (infra/progress.py); a function importing it would fail in Lambda
    assert "tqdm" in pkg.NEVER_IMPORTED_PACKAGES
    import ast

    functions = Path(pkg.FUNCTIONS_DIR)
    sources = [p for p in functions.rglob("*.py") if p.relative_to(functions).parts[0] != "vendor"]
    sources += [p for d in pkg.VENDORED for p in (pkg.ROOT / d).rglob("*.py")]
    assert len(sources) > 100
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] != "tqdm" for a in node.names), source
            elif isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "tqdm", source


def test_slim_zip_drops_packages_nothing_imports_but_keeps_the_data_we_read(tmp_path):
    path = tmp_path / "deployment.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("jieba/__init__.py", "raise ImportError('never imported')\n")
        zf.writestr("jieba/dict.txt", "x" * 100)
        zf.writestr("companynameparser/__init__.py", "import jieba\n")
        zf.writestr("companynameparser/data/suffix.txt", "有限公司\n")
        zf.writestr("jiebax/keep.py", "Z = 1\n")  # only the exact top-level package name is dropped
        zf.writestr("tqdm/__init__.py", "from .std import tqdm\n")  # the operator CLI's progress bars
    report = pkg.slim_zip(path, pkg.botocore_services())
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
    assert not any(n.startswith(("jieba/", "tqdm/")) for n in names)
    assert {"companynameparser/data/suffix.txt", "jiebax/keep.py"} <= names
    assert report["unused_package_files_dropped"] == 3
