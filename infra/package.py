"""``make package``: build ``build/sam.json`` and ``build/deployment.zip`` with ``chalice package``.

The template is Chalice's output merged with ours (``--merge-template``).

Steps:

1. Copy the top-level packages the functions import (``connectors``, ``schemas``) into ``functions/vendor/``:
   Chalice zips only ``app.py``, ``chalicelib/``, the contents of ``vendor/`` and ``requirements.txt``'s deps.
2. Import the app in a child process, with the stage's environment from ``.chalice/config.json``, and list its
   functions and event sources (``app.event_sources``).
3. Write the merge template: ``infra.resources`` for the stage's prefix, plus per function the environment,
   the event-source settings Chalice never sets (partial batch responses; for streams a retry limit,
   bisect-on-error and an on-failure queue), the real queue/stream ARNs, and a least-privilege policy
   (``infra.iam``). Overrides are keyed by the names Chalice generates, so a new handler needs no edit here.
4. Run ``chalice package`` in this process with a stricter dependency builder: a dependency with compiled
   code and no Lambda wheel fails the build, naming the package, instead of being built on this machine
   (or skipped with a warning, as Chalice does).
5. Check the merged template: a misnamed override would have left a resource without a ``Type``.

Chalice keeps a dependency zip per requirements/app hash in ``functions/.chalice/deployments``; it is parked
in the (git-ignored) output dir between runs so the tree stays clean and repeat builds reuse it.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalice.config import Config
from chalice.deploy import deployer
from chalice.deploy.packager import DependencyBuilder, MissingDependencyError, PipRunner
from chalice.utils import to_cfn_resource_name

from infra import FUNCTIONS_DIR, iam, operations
from infra.resources import SCHEDULES_DLQ, STREAM_DLQ, dlq_logical_id, resources, table_logical_id

ROOT = FUNCTIONS_DIR.parent
VENDORED = ("connectors", "schemas")
API_HANDLER = "api_handler"
STREAM_MAX_RETRIES = 5  # then the record goes to the stream-failures queue instead of blocking the shard
CACHE_DIR_NAME = ".chalice-deployments"
# Template parameters that policies may reference, with their defaults (the IAM check resolves them).
DEFAULT_PARAMETERS: dict[str, str] = {k: str(v["Default"]) for k, v in operations.PARAMETERS.items()}
SCHEDULE = "ScheduledEventConfig"

# Sources that mean compiled code in an sdist (C, C++, Cython, Rust, CMake/Meson builds).
_COMPILED_SUFFIXES = (".c", ".cc", ".cpp", ".cxx", ".pyx", ".rs")
_COMPILED_BUILD_FILES = ("CMakeLists.txt", "meson.build", "Cargo.toml")

# Chalice's event-source config classes, by the word its generated names use ("<fn>-sqs-event-source").
_EVENT_KINDS = {"SQSEventConfig": "sqs", "DynamoDBEventConfig": "dynamodb", "KinesisEventConfig": "kinesis"}


class PackagingError(Exception):
    """The package cannot be built as asked; the message says what to change."""


@dataclass(frozen=True)
class EventSource:
    function: str  # Chalice function name: the handler's name
    kind: str  # "sqs", "dynamodb", "kinesis", or the config class name for others (schedules, SNS, S3)
    queue: str | None = None
    stream_arn: str | None = None


@dataclass(frozen=True)
class AppShape:
    """The Lambda functions ``chalice package`` will generate and what triggers them."""

    functions: tuple[str, ...]
    event_sources: tuple[EventSource, ...]


# --- configuration -----------------------------------------------------------------------------------


def load_config(project_dir: Path = FUNCTIONS_DIR) -> dict[str, Any]:
    return json.loads((project_dir / ".chalice" / "config.json").read_text())


def stage_config(stage: str, function: str = API_HANDLER, project_dir: Path = FUNCTIONS_DIR) -> Config:
    """Chalice's own view of ``.chalice/config.json`` for a stage and function (lookups chain as in Chalice).

    Raises:
        PackagingError: the stage is not in config.json.
    """
    disk = load_config(project_dir)
    if stage not in disk.get("stages", {}):
        raise PackagingError(f"stage {stage!r} is not in {project_dir}/.chalice/config.json")
    return Config(chalice_stage=stage, function_name=function, config_from_disk=disk,
                  default_params={"project_dir": str(project_dir)})


def stage_prefix(stage: str, project_dir: Path = FUNCTIONS_DIR) -> str:
    """The stage's ``DEALREG_PREFIX``: the one source of resource names for the template and the functions."""
    env = stage_config(stage, project_dir=project_dir).environment_variables
    if not env.get("DEALREG_PREFIX"):
        raise PackagingError(f"stage {stage!r} sets no DEALREG_PREFIX in .chalice/config.json")
    return env["DEALREG_PREFIX"]


STAGES_DIR = Path(__file__).with_name("stages")


def stage_settings(stage: str, stages_dir: Path = STAGES_DIR) -> dict[str, dict[str, Any]]:
    """``infra/stages/<stage>.json``: template parameter defaults and function environment for the stage.

    Environment values that are not strings (a JSON list of tender sources, say) are written as JSON.

    Raises:
        PackagingError: an unknown parameter, or an environment name that is not a ``DEALREG_`` setting or
            would change the resource names (``DEALREG_PREFIX`` belongs to ``.chalice/config.json``).
    """
    path = stages_dir / f"{stage}.json"
    raw = json.loads(path.read_text()) if path.exists() else {}
    params = raw.get("parameters", {})
    unknown = sorted(set(params) - set(operations.PARAMETERS))
    if unknown:
        raise PackagingError(f"{path}: unknown parameters {unknown}; known: {sorted(operations.PARAMETERS)}")
    env = {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
           for k, v in raw.get("environment", {}).items()}
    bad = sorted(k for k in env if not k.startswith("DEALREG_") or k in ("DEALREG_PREFIX", "DEALREG_FUNCTION",
                                                                           "DEALREG_AWS_ENDPOINT_URL"))
    if bad:
        raise PackagingError(f"{path}: {bad} cannot be set per stage here")
    return {"parameters": params, "environment": env}


def logs_policy(project_dir: Path = FUNCTIONS_DIR) -> dict[str, Any]:
    """The CloudWatch Logs policy every function's role carries (``iam_policy_file`` of config.json)."""
    name = load_config(project_dir).get("iam_policy_file", "policy-logs.json")
    return json.loads((project_dir / ".chalice" / name).read_text())


def base_policy(stage: str, function: str, project_dir: Path = FUNCTIONS_DIR) -> dict[str, Any]:
    """The policy Chalice puts on ``function``'s role (``iam_policy_file``, or ``policy-<stage>.json``)."""
    name = stage_config(stage, function, project_dir).iam_policy_file or f"policy-{stage}.json"
    return json.loads((project_dir / ".chalice" / name).read_text())


# --- what the app declares -----------------------------------------------------------------------------

_DESCRIBE_APP = """
import json
from app import app
from infra.package import raw_shape
print(json.dumps(raw_shape(app)))
"""


def raw_shape(app: Any) -> dict[str, Any]:
    """The app's routes, pure functions and event sources, as JSON-able data."""
    sources = [{"function": s.name, "kind": type(s).__name__, "queue": getattr(s, "queue", None),
                "queue_arn": getattr(s, "queue_arn", None), "stream_arn": getattr(s, "stream_arn", None)}
               for s in app.event_sources]
    return {"routes": bool(app.routes), "pure": [f.name for f in app.pure_lambda_functions], "sources": sources}


def _shape(raw: Mapping[str, Any]) -> AppShape:
    sources = []
    for s in raw["sources"]:
        queue = s["queue"] or (s["queue_arn"].rsplit(":", 1)[-1] if s["queue_arn"] else None)
        sources.append(EventSource(function=s["function"], kind=_EVENT_KINDS.get(s["kind"], s["kind"]),
                                   queue=queue, stream_arn=s["stream_arn"]))
    functions = ([API_HANDLER] if raw["routes"] else []) + [s.function for s in sources] + list(raw["pure"])
    return AppShape(functions=tuple(dict.fromkeys(functions)), event_sources=tuple(sources))


def shape_of(app: Any) -> AppShape:
    """:func:`describe_app` for an app already imported in this process (the IAM check in the tests)."""
    return _shape(raw_shape(app))


def describe_app(env: Mapping[str, str], project_dir: Path = FUNCTIONS_DIR) -> AppShape:
    """Import ``app.py`` in a child process with ``env`` and list its functions and event sources.

    A child process, because the decorators read settings at import time: the names must come from the
    stage's environment, and importing here would pin them for whoever imports the app next.
    """
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("DEALREG_")}
    child_env.update(env)
    child_env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    child_env["PYTHONPATH"] = os.pathsep.join([str(project_dir), str(ROOT), child_env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", _DESCRIBE_APP], cwd=project_dir, env=child_env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PackagingError(f"importing app.py failed:\n{done.stderr}")
    return _shape(json.loads(done.stdout.strip().splitlines()[-1]))


# --- the names Chalice generates (chalice/package.py SAMTemplateGenerator, chalice/deploy/appgraph.py) ----


def function_logical_id(function: str) -> str:
    return "APIHandler" if function == API_HANDLER else to_cfn_resource_name(function)


def role_logical_id(function: str) -> str:
    # autogen_policy false gives each function its own role, "<function>_role".
    return to_cfn_resource_name(f"{function}_role")


def event_logical_id(source: EventSource) -> str:
    if source.kind == SCHEDULE:
        return to_cfn_resource_name(f"{source.function}-event")
    return to_cfn_resource_name(f"{source.function}-{source.kind}-event-source")


# --- the merge template ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Binding:
    """An event source resolved to template resources."""

    source: EventSource
    reads: str  # logical id of the queue, or of the table whose stream is read
    failures: str  # logical id of the queue failed records end up in


def bind_event_source(source: EventSource, prefix: str, template_resources: Mapping[str, Any]) -> Binding:
    """Find the queue or table an event source reads among ``infra.resources``.

    Raises:
        PackagingError: the resource is not defined there, or cannot be used as the source.
    """
    if source.kind == "sqs":
        for logical_id, res in template_resources.items():
            props = res.get("Properties", {})
            if res["Type"] == "AWS::SQS::Queue" and props.get("QueueName") == source.queue:
                if "RedrivePolicy" not in props:
                    raise PackagingError(f"queue {source.queue} of {source.function} has no DLQ")
                dlq = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
                return Binding(source, logical_id, dlq)
        raise PackagingError(f"{source.function} reads queue {source.queue!r}, not in infra/resources.py")
    if source.kind == "dynamodb":
        table_name = (source.stream_arn or "").split(":table/", 1)[-1].split("/", 1)[0]
        for logical_id, res in template_resources.items():
            props = res.get("Properties", {})
            if res["Type"] == "AWS::DynamoDB::Table" and props.get("TableName") == table_name:
                if "StreamSpecification" not in props:
                    raise PackagingError(f"table {table_name} of {source.function} has no stream")
                return Binding(source, logical_id, dlq_logical_id(STREAM_DLQ))
        raise PackagingError(f"{source.function} reads the stream of {table_name!r}, not in "
                             f"infra/resources.py for prefix {prefix}")
    raise PackagingError(f"{source.function}: {source.kind} event sources have no packaging rules yet")


def event_overrides(binding: Binding) -> dict[str, Any]:
    """The SAM event properties Chalice leaves out; its literal ARNs are replaced by references."""
    if binding.source.kind == "sqs":
        # Chalice writes the queue as {"Fn::Sub": "arn:...:<name>"} and the merge joins dicts key by key, so a
        # GetAtt here would end up beside that Sub in one dict; a Sub replaces it. verify_template checks.
        return {"Queue": {"Fn::Sub": f"${{{binding.reads}.Arn}}"},
                "FunctionResponseTypes": ["ReportBatchItemFailures"], **operations.sqs_event_overrides()}
    return {
        "Stream": {"Fn::GetAtt": [binding.reads, "StreamArn"]},
        "MaximumRetryAttempts": STREAM_MAX_RETRIES,
        "BisectBatchOnFunctionError": True,
        "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [binding.failures, "Arn"]}}},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
    }


def function_environment(function: str = API_HANDLER, stage_env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What the functions read besides DEALREG_PREFIX (which config.json sets): the stage's settings
    (``infra/stages/<stage>.json``) and template references."""
    return {
        **(stage_env or {}),
        "DEALREG_FUNCTION": function,  # the Chalice name: log and metric dimension (chalicelib.observability)
        "DEALREG_EVENTS_TOPIC_ARN": {"Ref": iam.EVENTS_TOPIC},
        "DEALREG_REGISTRATIONS_STREAM_ARN": {"Fn::GetAtt": [table_logical_id("registrations"), "StreamArn"]},
    }


def merge_template(shape: AppShape, prefix: str, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The template merged over Chalice's output: resources, then per-function overrides.

    Args:
        shape: the app's functions and event sources (:func:`describe_app`).
        prefix: the stage's ``DEALREG_PREFIX``.
        settings: :func:`stage_settings` (parameter defaults, function environment); none by default.

    Raises:
        PackagingError: an event source or a function cannot be mapped to resources and grants.
    """
    settings = settings or {}
    stage_env = settings.get("environment", {})
    out = resources(prefix)
    base_resources = dict(out)
    kinds: dict[str, set[str]] = {}
    for function in shape.functions:
        kinds[function] = {s.kind for s in shape.event_sources if s.function == function}
        # Batch sources (queues, streams) need settings; schedules and the API need none.
        batch = [s for s in shape.event_sources if s.function == function and s.kind in _EVENT_KINDS.values()]
        bindings = [bind_event_source(s, prefix, base_resources) for s in batch]
        logical = function_logical_id(function)
        props: dict[str, Any] = {"Environment": {"Variables": function_environment(function, stage_env)},
                                 **operations.function_overrides(function, logical, kinds[function], prefix)}
        if function != API_HANDLER:
            # through app.py (its module __getattr__), so the app's setup and middleware run in every function
            props["Handler"] = f"app.{function}"
        events = {event_logical_id(b.source): {"Properties": event_overrides(b)} for b in bindings}
        events.update({event_logical_id(s): {"Properties": operations.schedule_event_overrides()}
                       for s in shape.event_sources if s.function == function and s.kind == SCHEDULE})
        if events:
            props["Events"] = events
        out[logical] = {"Properties": props}
        sources = [(b.source.kind, b.reads, b.failures) for b in bindings]
        if SCHEDULE in kinds[function]:
            sources.append(("schedule", "", dlq_logical_id(SCHEDULES_DLQ)))
        try:
            access = iam.access_policy(function, prefix, sources)
        except KeyError as exc:
            raise PackagingError(exc.args[0]) from None
        role = role_logical_id(function)
        # The logs policy names the function's own log group: any stack name works (no "dealreg-*" pattern).
        policies = [{"PolicyName": f"{role}Policy", "PolicyDocument": operations.logs_policy(logical)}]
        if access["Statement"]:
            policies.append({"PolicyName": f"{logical}Access", "PolicyDocument": access})
        out[role] = {"Properties": {"Policies": policies}}
    if API_HANDLER in shape.functions:
        out[operations.API_LOGICAL_ID] = {"DependsOn": ["ApiGatewayAccount"],
                                          "Properties": operations.api_overrides(prefix)}
    dlqs = {logical: res["Properties"]["QueueName"] for logical, res in base_resources.items()
            if res["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" not in res["Properties"]}
    out.update(operations.stage_resources(prefix, {f: function_logical_id(f) for f in shape.functions}, kinds,
                                          dlqs))
    parameters = {name: {**spec, "Default": settings.get("parameters", {}).get(name, spec["Default"])}
                  for name, spec in operations.PARAMETERS.items()}
    return {"Parameters": parameters, "Conditions": operations.CONDITIONS, "Resources": out}


def _intrinsic_collisions(node: Any, path: str) -> Iterator[str]:
    if isinstance(node, dict):
        keys = [k for k in node if k == "Ref" or k.startswith("Fn::")]
        if keys and len(node) > 1:
            yield f"{path} mixes {sorted(node)} (the merge joined two values)"
        for key, value in node.items():
            yield from _intrinsic_collisions(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _intrinsic_collisions(value, f"{path}.{i}")


def verify_template(template: Mapping[str, Any], shape: AppShape) -> list[str]:
    """Problems in the merged template: overrides that matched nothing Chalice generated or were joined
    with Chalice's value instead of replacing it, and event sources left without the batch settings."""
    problems = [f"{name} has no Type (an override matched no generated resource)"
                for name, res in template["Resources"].items() if "Type" not in res]
    problems.extend(_intrinsic_collisions(template["Resources"], "Resources"))
    for source in shape.event_sources:
        if source.kind not in ("sqs", "dynamodb"):
            continue
        fn = template["Resources"].get(function_logical_id(source.function), {})
        event = fn.get("Properties", {}).get("Events", {}).get(event_logical_id(source), {})
        if event.get("Properties", {}).get("FunctionResponseTypes") != ["ReportBatchItemFailures"]:
            problems.append(f"{source.function}: {event_logical_id(source)} lacks ReportBatchItemFailures")
    return problems


# --- vendor/ and dependencies -----------------------------------------------------------------------


def vendor_packages(root: Path = ROOT, project_dir: Path = FUNCTIONS_DIR,
                    packages: tuple[str, ...] = VENDORED) -> Path:
    """Replace ``project_dir/vendor`` with fresh copies of ``packages`` (bytecode left out)."""
    vendor = project_dir / "vendor"
    shutil.rmtree(vendor, ignore_errors=True)
    for name in packages:
        shutil.copytree(root / name, vendor / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return vendor


def compiled_sources(sdist: str | Path) -> list[str]:
    """Files in an sdist (archive or unpacked directory) that mean it compiles code when built."""
    path = Path(sdist)
    if path.is_dir():
        names = [p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()]
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    else:
        with tarfile.open(path) as tf:
            names = tf.getnames()
    return sorted(n for n in names
                  if n.endswith(_COMPILED_SUFFIXES) or n.rsplit("/", 1)[-1] in _COMPILED_BUILD_FILES)


class StrictPipRunner(PipRunner):
    """Chalice's pip wrapper, except that it refuses to build dependencies with compiled code from source.

    Chalice builds any dependency it has no Lambda wheel for on this machine; compiled code built here
    targets this machine, not Lambda's, so Chalice drops it with a warning (or keeps a pure-Python
    fallback). Pure-Python sdists (sgmllib3k, say) build anywhere and still go through.
    """

    def download_sdists(self, packages: list[str], directory: str) -> None:
        # Chalice asks for sdists only of packages whose wheels are all for other platforms: platform wheels
        # mean compiled code. Refuse here, before pip spends minutes building their build tools from source.
        if packages:
            raise PackagingError(
                f"{', '.join(sorted(packages))}: wheels exist, but none Lambda can load (manylinux at the "
                "runtime's glibc, this Python); building from source would compile code for this machine. "
                "Pin a version that ships such a wheel in functions/requirements.txt and pyproject.toml.")
        super().download_sdists(packages, directory)

    def build_wheel(self, wheel: str, directory: str, compile_c: bool = True) -> None:
        found = compiled_sources(wheel)
        if found:
            raise PackagingError(
                f"{Path(wheel).name} has no wheel for Lambda (manylinux, this Python) and would be built "
                f"from source with compiled code ({', '.join(found[:3])}). Pin a version that ships a "
                "manylinux wheel in functions/requirements.txt and pyproject.toml.")
        before = set(os.listdir(directory))
        super().build_wheel(wheel, directory, compile_c)
        # Chalice accepts linux_<machine> wheels built here, linked against this machine's libc; only a
        # pure wheel ("...-any.whl") is safe to ship from a local build.
        platform = sorted(f for f in set(os.listdir(directory)) - before
                          if f.endswith(".whl") and not f[: -len(".whl")].endswith("-any"))
        if platform:
            raise PackagingError(
                f"{Path(wheel).name} built {platform[0]} from source: compiled code for this machine, not "
                "Lambda. Pin a version that ships a manylinux wheel.")


class StrictDependencyBuilder(DependencyBuilder):
    """Chalice's dependency builder, except that a missing Lambda wheel is an error, not a warning."""

    def build_site_packages(self, abi: str, requirements_filepath: str, target_directory: str) -> None:
        try:
            super().build_site_packages(abi, requirements_filepath, target_directory)
        except MissingDependencyError as exc:
            names = ", ".join(sorted(p.identifier for p in exc.missing))
            raise PackagingError(f"no Lambda-compatible wheel ({abi}, manylinux) for: {names}") from None


@contextmanager
def strict_dependency_builds() -> Iterator[None]:
    """Make Chalice's build stage use the strict pip runner and dependency builder while packaging."""
    saved = deployer.PipRunner, deployer.PipDependencyBuilder
    deployer.PipRunner, deployer.PipDependencyBuilder = StrictPipRunner, StrictDependencyBuilder
    try:
        yield
    finally:
        deployer.PipRunner, deployer.PipDependencyBuilder = saved


@contextmanager
def parked_deployments_cache(project_dir: Path, out: Path) -> Iterator[None]:
    """Lend Chalice its dependency-zip cache from ``out`` and take it back afterwards (keeping the newest)."""
    live = project_dir / ".chalice" / "deployments"
    parked = out / CACHE_DIR_NAME
    if parked.is_dir() and not live.exists():
        shutil.move(str(parked), str(live))
    try:
        yield
    finally:
        if live.is_dir():
            shutil.rmtree(parked, ignore_errors=True)
            shutil.move(str(live), str(parked))
            zips = sorted(parked.glob("*.zip"), key=lambda p: p.stat().st_mtime)
            for stale in zips[:-1]:
                stale.unlink()


# --- a smaller, faster zip ------------------------------------------------------------------------------

# botocore service models beyond the ones the functions call are dead weight (17 MB of the zip). What they
# call is what infra/iam.py grants (the functional tests prove every call is granted), plus DynamoDB Streams,
# which only Lambda's event source reads, and STS, which botocore's credential providers may use.
_ALWAYS_KEEP_SERVICES = {"sts"}
_IAM_TO_BOTOCORE = {"ses": ("ses", "sesv2"), "dynamodb": ("dynamodb", "dynamodbstreams")}


def botocore_services() -> set[str]:
    """The botocore service models the zip keeps: those of every action granted to some function."""
    prefixes = {a.split(":", 1)[0] for grants in iam.GRANTS.values() for g in grants for a in g.actions}
    prefixes |= {"sqs", "dynamodb"}  # event-source statements (infra.iam.event_source_statements)
    out = set(_ALWAYS_KEEP_SERVICES)
    for prefix in prefixes:
        out.update(_IAM_TO_BOTOCORE.get(prefix, (prefix,)))
    return out


# Installed only as a dependency of a package whose data files we read without importing it:
# companynameparser (chalicelib.domain.names reads its word lists by file) requires jieba, 42 MB installed,
# which nothing imports. Dropping it from the zip keeps the bundle what it was before the name data came
# from packages (issue 11); tests/unit/domain/test_names.py proves the packages are never imported.
# tqdm is a runtime dependency of the operator CLI only (infra/progress.py); no function imports it
# (tests/unit/test_packaging.py proves it for every function's imports).
NEVER_IMPORTED_PACKAGES = frozenset({"jieba", "tqdm"})


def _without_documentation(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_documentation(v) for k, v in node.items() if k != "documentation"}
    if isinstance(node, list):
        return [_without_documentation(v) for v in node]
    return node


def botocore_data(name: str, data: bytes, endpoint_prefixes: set[str]) -> tuple[str, bytes] | None:
    """The cheapest form for botocore to load of one kept ``botocore/data`` file (None: drop it).

    A cold function parses every model it makes a client of, and ``endpoints.json`` (1.2 MB, every AWS service
    in every partition) for the first client of a session; the first parse of that file alone cost ~30 ms CPU.
    So: ``endpoints.json`` keeps only the services the zip keeps (``endpoint_prefixes``; every partition, its
    regions and defaults as they were); ``service-2`` models lose their ``documentation`` strings (about 3/4 of
    their size; botocore reads them only for docstrings, with ``''`` as default) and are stored as plain JSON,
    which the loader tries before ``.json.gz``; ``examples-1.json`` (read only by the docs generator) is dropped.
    """
    import gzip

    if name == "botocore/data/endpoints.json":
        endpoints = json.loads(data)
        for partition in endpoints["partitions"]:
            partition["services"] = {k: v for k, v in partition["services"].items() if k in endpoint_prefixes}
        return name, json.dumps(endpoints, separators=(",", ":")).encode()
    base = name.rpartition("/")[2]
    if base == "examples-1.json":
        return None
    if base in ("service-2.json", "service-2.json.gz"):
        model = json.loads(gzip.decompress(data) if base.endswith(".gz") else data)
        out = name.removesuffix(".gz")
        return out, json.dumps(_without_documentation(model), separators=(",", ":")).encode()
    return name, data


# The suffix of the pickled form of a botocore data file (``<path without .json>`` + this), read by
# ``chalicelib.store.aws``'s data loader; botocore's own loader reads the JSON beside it.
PICKLED_SUFFIX = ".pickle"


def botocore_pickle(name: str, data: bytes) -> tuple[str, bytes]:
    """The pickled form of one (slimmed) ``botocore/data`` JSON file: exactly the objects botocore's
    ``JSONFileLoader`` parses from it (``OrderedDict`` objects, as its ``object_pairs_hook`` makes them), so a
    cold client unpickles ~170 KB of models instead of JSON-decoding them (~5x fewer instructions; see
    bench/RESULTS.md, session 8). Built with this Python, the runtime's version (as the pycs are)."""
    import gzip
    import pickle
    from collections import OrderedDict

    payload = gzip.decompress(data) if name.endswith(".gz") else data
    obj = json.loads(payload.decode("utf-8"), object_pairs_hook=OrderedDict)
    stem = name.removesuffix(".gz").removesuffix(".json")
    return stem + PICKLED_SUFFIX, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def _endpoint_prefixes(src: zipfile.ZipFile, keep_services: set[str]) -> set[str]:
    """The ``endpoints.json`` keys of the kept services (their models' ``endpointPrefix``: ``streams.dynamodb``
    for dynamodbstreams, ``email`` for ses/sesv2), read from the models in the zip."""
    import gzip

    out: set[str] = set()
    for name in src.namelist():
        parts = name.split("/")
        if (len(parts) == 5 and parts[:2] == ["botocore", "data"] and parts[2] in keep_services
                and parts[4] in ("service-2.json", "service-2.json.gz")):
            data = src.read(name)
            out.add(json.loads(gzip.decompress(data) if name.endswith(".gz") else data)["metadata"]["endpointPrefix"])
    return out


def _stale_pyc(parts: list[str], names: set[str]) -> bool:
    """A ``__pycache__/<module>.<tag>.pyc`` whose ``<module>.py`` is in the zip too: one a local run (the tests,
    ``make run``) wrote beside our sources and Chalice copied. It is timestamp-checked against an mtime the zip
    keeps only to two seconds, so Python would compile the source again at every cold start (Lambda's file
    system is read-only); :func:`slim_zip` replaces it with an unchecked-hash pyc."""
    if len(parts) < 2 or parts[-2] != "__pycache__" or not parts[-1].endswith(".pyc"):
        return False
    module = parts[-1].split(".", 1)[0]
    return "/".join([*parts[:-2], module + ".py"]) in names


def slim_zip(path: Path, keep_services: set[str]) -> dict[str, int]:
    """Rewrite the Lambda zip: drop botocore models of other services and packages nothing imports
    (:data:`NEVER_IMPORTED_PACKAGES`), store the kept botocore data in its cheapest form (:func:`botocore_data`)
    and beside it pickled (:func:`botocore_pickle`), add ``.pyc`` for every module.

    The bytecode is compiled here (this Python is the runtime's version: Chalice takes the runtime from it) as
    unchecked-hash pycs, so the read-only Lambda file system never recompiles at cold start.
    """
    import importlib.util
    import marshal

    before = path.stat().st_size
    tmp = path.with_suffix(".tmp.zip")
    dropped = compiled = unused = pickled_data = 0
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        names = set(src.namelist())
        endpoint_prefixes = _endpoint_prefixes(src, keep_services)
        for info in src.infolist():
            parts = info.filename.split("/")
            if parts[:2] == ["botocore", "data"] and len(parts) > 3 and parts[2] not in keep_services:
                dropped += 1
                continue
            if parts[0] in NEVER_IMPORTED_PACKAGES:
                unused += 1
                continue
            if _stale_pyc(parts, names):
                continue  # compiled anew below: a pyc a local run left beside the source would be recompiled
            data = src.read(info)
            if parts[:2] == ["botocore", "data"] and info.filename.endswith((".json", ".json.gz")):
                slimmed = botocore_data(info.filename, data, endpoint_prefixes)
                if slimmed is None:
                    dropped += 1
                    continue
                if slimmed[0] != info.filename:
                    info = zipfile.ZipInfo(slimmed[0], date_time=info.date_time)
                    info.external_attr, info.compress_type = 0o644 << 16, zipfile.ZIP_DEFLATED
                data = slimmed[1]
                pickled_name, pickled = botocore_pickle(info.filename, data)
                pickled_info = zipfile.ZipInfo(pickled_name, date_time=info.date_time)
                pickled_info.external_attr, pickled_info.compress_type = 0o644 << 16, zipfile.ZIP_DEFLATED
                dst.writestr(pickled_info, pickled)
                pickled_data += 1
            dst.writestr(info, data)
            if info.filename.endswith(".py") and "__pycache__" not in parts:
                folder, _, name = info.filename.rpartition("/")
                pyc = f"{folder + '/' if folder else ''}__pycache__/{name[:-3]}.{sys.implementation.cache_tag}.pyc"
                try:
                    code = compile(data, info.filename, "exec", dont_inherit=True)
                except SyntaxError:  # e.g. a vendored file for another Python; Lambda would fail the same way
                    continue
                source_hash = importlib.util.source_hash(data)
                blob = bytearray(importlib.util.MAGIC_NUMBER)
                blob += (0b01).to_bytes(4, "little")  # hash-based, unchecked (PEP 552)
                blob += source_hash
                blob += marshal.dumps(code)
                pyc_info = zipfile.ZipInfo(pyc, date_time=info.date_time)
                pyc_info.external_attr = info.external_attr
                pyc_info.compress_type = zipfile.ZIP_DEFLATED
                dst.writestr(pyc_info, bytes(blob))
                compiled += 1
    tmp.replace(path)
    return {"bytes_before": before, "bytes_after": path.stat().st_size, "models_dropped": dropped,
            "pyc_added": compiled, "unused_package_files_dropped": unused, "botocore_data_pickled": pickled_data}


def add_generated_data(path: Path, project_dir: Path = FUNCTIONS_DIR) -> dict[str, int]:
    """Add the data files built at package time from pinned dependencies (never kept in git), each the cheapest
    form for a cold function to read and each equal to what the source tree derives at run time (tests prove
    it): the romanisation table and the pinyin region spellings of ``chalicelib.domain.dedup_keys`` (read
    instead of pypinyin's modules), and the name tables of ``chalicelib.domain.names``."""
    sys.path.insert(0, str(project_dir))
    try:
        from chalicelib.domain import dedup_keys, names
    finally:
        sys.path.remove(str(project_dir))
    table = ("\n".join(dedup_keys.pinyin_table_lines()) + "\n").encode()
    regions = ("\n".join(sorted(dedup_keys.pinyin_regions())) + "\n").encode()
    tables = names.tables_blob()
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        for name, data in ((dedup_keys.PINYIN_TABLE, table), (dedup_keys.PINYIN_REGIONS, regions),
                           (names.TABLES_FILE, tables)):
            # readable by everyone (0644): Lambda runs the code as a user that does not own the files, and a
            # ZipInfo made from a bare name would be 0600 (an unreadable table fails every romanisation)
            info = zipfile.ZipInfo(f"chalicelib/domain/data/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr, info.compress_type = 0o644 << 16, zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return {"pinyin_table_bytes": len(table), "pinyin_regions_bytes": len(regions), "name_tables_bytes": len(tables)}


# The collector of chalicelib.precompiled's record, run in the unzipped package by this Python (the runtime's
# version, as for the pycs): it imports the app and every module of ours, and makes a client of each kept botocore
# service (its first request stopped before it is sent), recording every regular expression compiled (what ``re``
# gave the regex engine's constructor) and every source text typing/dataclasses/collections compile (the code).
_COLLECTOR = """
import builtins, importlib, marshal, os, pkgutil, sys
root, out, services = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
sys.path.insert(0, root)
for key, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "package",
                   "AWS_SECRET_ACCESS_KEY": "package", "DEALREG_PREFIX": "dealreg-package"}.items():
    os.environ[key] = value
import _sre
from re import _compiler, DEBUG
made, patterns, seen = [], [], set()
engine_compile, compile_pattern = _sre.compile, _compiler.compile
def capture(*args):
    made.append(args)
    return engine_compile(*args)
def compile_recorded(p, flags=0):
    made.clear()
    pattern = compile_pattern(p, flags)
    key = (type(p), p, flags)
    if isinstance(p, (str, bytes)) and not flags & DEBUG and len(made) == 1 and key not in seen:
        seen.add(key)
        text, engine_flags, code, groups, groupindex, indexgroup = made[0]
        patterns.append((int(flags), (text, int(engine_flags), [int(c) for c in code], int(groups),
                                      dict(groupindex), tuple(indexgroup))))
    return pattern
_sre.compile, _compiler.compile = capture, compile_recorded
from chalicelib import precompiled
sources = {name: {} for name, _, _ in precompiled.GENERATORS}
def recording(module_name, builtin, mode):
    table, real = sources[module_name], getattr(builtins, builtin)
    if builtin == "compile":
        def generator(source, filename, mode_, *args, **kwargs):
            code = real(source, filename, mode_, *args, **kwargs)
            if filename == "<string>" and mode_ == mode and not args and not kwargs and type(source) is str:
                table.setdefault(source, code)
            return code
    else:
        def generator(source, *args, **kwargs):
            if type(source) is str:
                source = table.setdefault(source, builtins.compile(source, "<string>", mode, dont_inherit=True))
            return real(source, *args, **kwargs)
    setattr(importlib.import_module(module_name), builtin, generator)
for generator in precompiled.GENERATORS:
    recording(*generator)
import app
from botocore import xform_name
from chalicelib.store import aws
class Stop(Exception):
    pass
def stop(**_):
    raise Stop
for service in services:
    client = aws.session().create_client(service, region_name="us-east-1")
    client.meta.events.register("before-send", stop)
    model = client.meta.service_model
    for name in model.operation_names:  # the first operation that needs no input, as far as the wire
        shape = model.operation_model(name).input_shape
        if shape is None or not shape.required_members:
            try:
                getattr(client, xform_name(name))()
            except Stop:
                pass
            break
for package in ("chalicelib", "schemas", "connectors"):
    for info in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
        try:
            importlib.import_module(info.name)
        except Exception:
            pass
with open(out, "wb") as f:
    marshal.dump({"engine": precompiled.engine(), "patterns": patterns[:400],  # each code object on its own:
                  "sources": {module: {text: marshal.dumps(code) for text, code in table.items()}  # loaded at use
                              for module, table in sources.items()}}, f)
"""


def collect_precompiled(root: Path, services: set[str], isolated: bool = True) -> bytes:
    """The record of :mod:`chalicelib.precompiled` for the package unzipped at ``root`` (``isolated``: a bare
    interpreter, ``python -I -S``, as on Lambda; tests pass False to run it over the source tree)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "record.marshal"
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
        subprocess.run([sys.executable, *(["-I", "-S"] if isolated else []), "-c", _COLLECTOR, str(root),
                        str(out), ",".join(sorted(services))], cwd=root, env=env, check=True)
        return out.read_bytes()


def can_collect(system: str | None = None, machine: str | None = None) -> bool:
    """Whether this host can run the collector: it imports the zip's native wheels, which are Lambda's (manylinux,
    x86_64 — the functions declare no other architecture), so only a Linux x86_64 host can."""
    import platform

    return (system or platform.system()) == "Linux" and (machine or platform.machine()) in ("x86_64", "AMD64")


def precompiled(path: Path, services: set[str]) -> dict[str, int]:
    """Add ``chalicelib/precompiled.marshal`` to the zip: the regular expressions and generated source the
    functions compile at a cold start, compiled here (see :mod:`chalicelib.precompiled`; at most 400 patterns,
    ``re`` caches 512). On a host that cannot import the zip's native wheels (macOS, arm64) the zip gets no record
    — the functions then compile at a cold start as without this step — and a warning says so; on Linux x86_64 a
    collector that fails fails the packaging."""
    import marshal
    import tempfile

    if not can_collect():
        print("warning: this host cannot import the Lambda (manylinux x86_64) wheels, so the package has no "
              "precompiled record: cold starts compile regular expressions and generated source as without it "
              "(package on Linux x86_64 for the faster cold start)", file=sys.stderr)
        return {"regexes_precompiled": 0, "sources_precompiled": 0}
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(path) as zf:
            zf.extractall(tmp)
        data = collect_precompiled(Path(tmp), services)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("chalicelib/precompiled.marshal", date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr, info.compress_type = 0o644 << 16, zipfile.ZIP_DEFLATED
        zf.writestr(info, data)
    record = marshal.loads(data)
    return {"regexes_precompiled": len(record["patterns"]),
            "sources_precompiled": sum(len(codes) for codes in record["sources"].values())}


# --- the command -------------------------------------------------------------------------------------


def package(stage: str, out: Path, project_dir: Path = FUNCTIONS_DIR) -> Path:
    """Build ``out/sam.json`` and ``out/deployment.zip`` for ``stage``; return the template's path.

    Raises:
        PackagingError: anything that would make the package wrong (see the module docstring).
    """
    from chalice.cli import cli

    # The template must not depend on the packager's shell: only config.json's variables reach the app.
    for key in [k for k in os.environ if k.startswith("DEALREG_")]:
        del os.environ[key]
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    prefix = stage_prefix(stage, project_dir)
    env = stage_config(stage, project_dir=project_dir).environment_variables
    out.mkdir(parents=True, exist_ok=True)
    vendor_packages(project_dir=project_dir)
    shape = describe_app(env, project_dir)
    merge = merge_template(shape, prefix, stage_settings(stage))
    merge_path = out / "merge-template.json"
    merge_path.write_text(json.dumps(merge, indent=2) + "\n")
    args = ["--project-dir", str(project_dir), "package", "--stage", stage,
            "--merge-template", str(merge_path), str(out)]
    with strict_dependency_builds(), parked_deployments_cache(project_dir, out):
        cli.main(args=args, prog_name="chalice", standalone_mode=False, obj={})
    slim = slim_zip(out / "deployment.zip", botocore_services())
    add_generated_data(out / "deployment.zip", project_dir)
    compiled = precompiled(out / "deployment.zip", botocore_services())
    print(f"deployment.zip: {slim['bytes_before'] / 1e6:.1f} MB -> {slim['bytes_after'] / 1e6:.1f} MB "
          f"({slim['models_dropped']} unused botocore model files dropped, {slim['pyc_added']} .pyc added, "
          f"{slim['botocore_data_pickled']} botocore data files pickled, "
          f"{compiled['regexes_precompiled']} regular expressions and {compiled['sources_precompiled']} generated "
          f"sources precompiled)")
    template_path = out / "sam.json"
    problems = verify_template(json.loads(template_path.read_text()), shape)
    if problems:
        raise PackagingError("the merged template is wrong:\n  " + "\n  ".join(problems))
    return template_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.package", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", default="build", type=Path)
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        template = package(args.stage, args.out.resolve())
    except PackagingError as exc:
        print(f"packaging failed: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {template} and {template.parent / 'deployment.zip'} in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
