"""Cold start (issue 15 item 1): what a fresh Lambda container does before and during its first event.

The figures are in bench/RESULTS.md (``bench/cold_start.py``); these tests guard the structure behind them
without timing: what ``import app`` loads, and the collector setting of a cold container.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Imported by some function's work, never needed to register the routes and event functions: each loads
# lazily, in the code that uses it.
HEAVY = ("pydantic", "pydantic_core", "pynamodb", "urllib3", "boto3", "s3transfer", "bs4", "feedparser",
         "rapidfuzz", "pypinyin", "ahocorasick", "nh3", "tqdm", "jinja2", "schemas", "connectors")


def _python(code: str, lambda_env: bool = True) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_LAMBDA_FUNCTION_NAME", "PYDANTIC_DISABLE_PLUGINS")}
    env.update({"PYTHONPATH": f"{ROOT / 'functions'}{os.pathsep}{ROOT}", "DEALREG_PREFIX": "dealreg-dev",
                "AWS_DEFAULT_REGION": "us-east-1", "DEALREG_LOG_FORMAT": "text"})
    if lambda_env:
        env.update({"AWS_LAMBDA_FUNCTION_NAME": "dealreg-dev", "DEALREG_FUNCTION": "api_handler"})
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "functions", env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_app_loads_no_heavy_library():
    got = _python("import json, sys, app; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    assert "chalice" in got and "chalicelib" in got
    assert sorted(set(HEAVY) & set(got)) == []
    # botocore's package only (Powertools checks it is there); no session, client or model is built at import
    got = _python("import json, sys, app; print(json.dumps(sorted(m for m in sys.modules if 'botocore' in m)))")
    assert got in ([], ["botocore"])


# Ours that ``import app`` may load besides the route modules (``handlers.*``, ``console.*``): the app's shell and
# what the route modules need to register. A store, domain or service module beyond these costs every cold
# function its imports (PynamoDB models, name tables, pydantic rules models, ...): import it in the handler
# body that uses it.
APP_SHELL = {"chalicelib", "chalicelib.clock", "chalicelib.domain", "chalicelib.domain.errors", "chalicelib.http",
             "chalicelib.observability", "chalicelib.rules", "chalicelib.services", "chalicelib.services.registrations",
             "chalicelib.settings", "chalicelib.handlers", "chalicelib.console", "chalicelib.precompiled"}


def test_import_app_loads_no_store_domain_or_service_module():
    got = _python("import json, sys, app; print(json.dumps(sorted(m for m in sys.modules if m.startswith('chalicelib'))))")
    assert "chalicelib.handlers.intake" in got and "chalicelib.console.routes" in got  # the check sees the routes
    assert [m for m in got if m not in APP_SHELL and not m.startswith(("chalicelib.handlers.", "chalicelib.console."))] == []


_FIRST_EVENT = """
import gc, json, os, app
from chalicelib import observability
cold = list(gc.get_threshold())
headers = {"accept": "application/json", "host": "x.execute-api.us-east-1.amazonaws.com"}
event = {"resource": "/v1/registrations", "path": "/v1/registrations", "httpMethod": "GET", "headers": headers,
         "multiValueHeaders": {k: [v] for k, v in headers.items()}, "queryStringParameters": None,
         "multiValueQueryStringParameters": None, "pathParameters": None, "stageVariables": None, "body": None,
         "isBase64Encoded": False, "requestContext": {"resourcePath": "/v1/registrations", "httpMethod": "GET",
                                                      "path": "/api/v1/registrations", "stage": "api",
                                                      "requestId": "r1", "identity": {"sourceIp": "127.0.0.1"}}}
class Ctx:
    function_name = "dealreg-dev"; aws_request_id = "r1"; memory_limit_in_mb = 512
    def get_remaining_time_in_millis(self): return 1000
status = app.app(event, Ctx())["statusCode"]
after = list(gc.get_threshold()); frozen = gc.get_freeze_count()
app.app(event, Ctx())
print(json.dumps({"cold": cold, "status": status, "plugins": os.environ.get("PYDANTIC_DISABLE_PLUGINS"), "after": after, "frozen": frozen,
                  "second": list(gc.get_threshold()), "cold_setting": list(observability.COLD_START_GC_THRESHOLD)}))
"""


def test_a_cold_container_collects_rarely_until_its_first_event_is_answered():
    got = _python(_FIRST_EVENT)
    assert got["status"] == 401  # no credentials: answered without any AWS call
    # GIVEN a Lambda container: from before the imports up to the first answer, the cold-start thresholds
    assert got["cold"] == got["cold_setting"] != [700, 10, 10]
    # THEN after it the defaults again, with everything built so far frozen (never traversed again)
    assert got["after"] == got["second"] == [700, 10, 10]
    assert got["frozen"] > 10_000
    # and pydantic does not search the installed distributions for plugins (the functions use none)
    assert got["plugins"] == "__all__"


_GROWTH = """
import gc, json, app
runs = []
gc.callbacks.append(lambda phase, info: runs.append(info["generation"]) if phase == "start" else None)
# what a first dedup message adds to the heap (~100,000 tracked objects: libraries, clients, validators), and more
kept = [{"i": i} for i in range(300_000)]
print(json.dumps({"runs": runs, "frozen_before": gc.get_freeze_count()}))
"""


def test_a_cold_container_does_not_traverse_its_growing_heap_before_the_first_answer():
    # A young-generation collection traverses every object the heap grew by, nearly all of them long-lived: at
    # a 100,000 threshold the first dedup message paid one 30-34 ms collection that found 1,035 garbage objects.
    got = _python(_GROWTH)
    assert got == {"runs": [], "frozen_before": 0}
    # outside Lambda the collector runs as usual (the same growth triggers collections)
    assert _python(_GROWTH, lambda_env=False)["runs"] != []


def test_outside_lambda_the_collector_is_left_alone():
    got = _python(_FIRST_EVENT, lambda_env=False)
    assert got["cold"] == got["after"] == [700, 10, 10] and got["frozen"] == 0 and got["plugins"] is None


def test_request_models_are_built_when_first_used_not_at_import():
    got = _python("""
import json
from schemas import registration, webhook
imported = [m.__pydantic_complete__ for m in (registration.RegistrationCreate, registration.AuditEntry)]
webhook.OpportunityRegistered.model_validate_json(open("../examples/opportunity.json", "rb").read())
print(json.dumps({"imported": imported, "used": webhook.OpportunityRegistered.__pydantic_complete__,
                  "unused": registration.AuditEntry.__pydantic_complete__}))
""", lambda_env=False)
    assert got == {"imported": [False, False], "used": True, "unused": False}


def test_importing_the_intake_schemas_builds_no_model():
    # A model built at import (no ``defer_build``) costs its validator in every cold API container, whether the
    # request uses it or not: the scoring rules documents and the list queries were (issue 15 item 1).
    got = _python("""
import json, pydantic
from schemas import common, registration, scoring, webhook
built = sorted(f"{m.__name__}.{name}" for m in (common, registration, scoring, webhook)
               for name, v in vars(m).items() if isinstance(v, type) and issubclass(v, pydantic.BaseModel)
               and v.__module__ == m.__name__ and v.__pydantic_complete__)
print(json.dumps({"built": built, "scoring_models": sum(1 for v in vars(scoring).values() if isinstance(v, type)
                                                      and issubclass(v, pydantic.BaseModel))}))
""", lambda_env=False)
    assert got["scoring_models"] > 5  # the check sees the models
    assert got["built"] == []


def test_a_queue_function_builds_only_the_event_models_it_receives():
    got = _python("""
import json
from schemas import events
body = json.dumps({"type": "customer.review_flagged", "id": "c:1", "subject": "uscc:1",
                   "occurred_at": "2026-01-01T00:00:00Z", "actor": {"kind": "system", "id": "t"}})
try:
    events.parse_event(body)
except ValueError:
    pass  # the shape does not matter here: the model is built to say so
print(json.dumps({"used": events.CustomerReviewFlagged.__pydantic_complete__,
                  "unused": events.RegistrationSubmitted.__pydantic_complete__,
                  "adapter": events.EVENT_ADAPTER.pydantic_complete}))
""", lambda_env=False)
    assert got == {"used": True, "unused": False, "adapter": False}


def test_the_benchs_library_floor_runs_no_code_of_ours(tmp_path):
    # bench.cold_start --floor: what a first webhook's libraries cost alone. Fed the modules a webhook loaded, the
    # probe imports the libraries among them and makes the clients, and never a module of dealreg.
    sys.path.insert(0, str(ROOT))
    try:
        from bench.cold_start import FLOOR_PROBE
    finally:
        sys.path.remove(str(ROOT))
    listed = ["app", "chalicelib.store.models", "schemas.registration", "connectors.standard_webhooks", "pydantic",
              "pynamodb.models", "chalice"]
    (tmp_path / "modules.json").write_text(json.dumps(listed))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEALREG_", "AWS_LAMBDA"))}
    env.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"})
    done = subprocess.run([sys.executable, "-c", FLOOR_PROBE, str(ROOT / "functions"), "-", str(tmp_path / "modules.json"),
                           str(tmp_path / "out.json")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads((tmp_path / "out.json").read_text())["modules"]
    assert {"pydantic", "pynamodb.models", "chalice", "botocore.client", "aws_lambda_powertools"} <= set(loaded)
    assert [m for m in loaded if m.split(".")[0] in ("app", "chalicelib", "schemas", "connectors")] == []


def test_no_model_on_a_queue_functions_import_path_is_built_at_import():
    # issue 15 item 1: the operator-rules and query models (scoring rules, dedup/ownership/routing rules, tender
    # sources, list queries) are built when first validated, like the payload models; a cold queue function
    # builds only what its event uses
    got = _python("""
import importlib, json, pydantic
modules = ["schemas.common", "schemas.scoring", "schemas.registration", "schemas.company", "schemas.events",
           "schemas.dedup", "schemas.workflow", "schemas.ownership", "chalicelib.domain.dedup_rules",
           "chalicelib.domain.ownership", "chalicelib.domain.routing", "chalicelib.domain.tenders"]
built = []
for name in modules:
    module = importlib.import_module(name)
    built += [f"{name}.{v.__name__}" for v in vars(module).values() if isinstance(v, type)
              and issubclass(v, pydantic.BaseModel) and v.__module__ == name and v.__pydantic_complete__]
from chalicelib.domain import dedup_rules
dedup_rules.default_rules()  # and they validate when used
print(json.dumps({"built": built, "used": dedup_rules.MatchRules.__pydantic_complete__}))
""", lambda_env=False)
    assert got == {"built": [], "used": True}


def _imported_in(path: Path, functions: set[str]) -> list[str]:
    """The modules named by the import statements inside ``functions`` of a module (its lazy imports)."""
    import ast

    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef) and node.name in functions:
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.module:
                    out += [inner.module] + [f"{inner.module}.{a.name}" for a in inner.names]
                elif isinstance(inner, ast.Import):
                    out += [a.name for a in inner.names]
    return sorted(set(out))


def test_the_workflow_functions_read_verdicts_without_the_dedup_index_domain():
    # review_submissions and advance_stalled_submissions read the stored verdict: the index's domain (names,
    # romanisation, keys, rules; ~40 ms of a cold start) is the dedup function's alone
    lazy = _imported_in(ROOT / "functions" / "chalicelib" / "services" / "workflow.py", {"auto_check", "check", "sweep"})
    lazy += _imported_in(ROOT / "functions" / "chalicelib" / "handlers" / "workflow.py",
                         {"review_submissions", "advance_stalled_submissions", "_auto_check"})
    assert "chalicelib.store.dedup_verdicts" in lazy
    got = _python(f"""
import importlib, json, sys
import app
for name in {lazy!r}:
    try:
        importlib.import_module(name)
    except ImportError:
        pass  # "from package import function": the package is imported
print(json.dumps(sorted(m for m in sys.modules if m in ("chalicelib.store.dedup", "chalicelib.domain.names",
      "chalicelib.domain.dedup_keys", "chalicelib.domain.dedup_rules", "chalicelib.domain.dedup_match"))))
""", lambda_env=False)
    assert got == []


def test_the_enrichment_function_builds_company_registries_without_the_tender_formats():
    # issue 15 item 1: the registry look-up reads the company registries only; the tender feed connectors (their
    # formats: HTML, XML, RSS, OCDS) are imported when the whole REGISTRY is first read (the poller, the CLI)
    assert "connectors.registry.COMPANY_REGISTRIES" in _imported_in(
        ROOT / "functions" / "chalicelib" / "services" / "registry_lookup.py", {"connectors"})
    got = _python("""
import json, os, sys
os.environ["DEALREG_REGISTRY_PROVIDERS"] = "gleif"  # whatever the test process's environment says
from chalicelib import settings
from chalicelib.services import registry_lookup
built = registry_lookup.connectors(settings.get())
cold = "connectors.tender_feeds" in sys.modules
from connectors import REGISTRY
from connectors.registry import COMPANY_REGISTRIES
print(json.dumps({"built": sorted(built), "tender formats": cold, "all": sorted(REGISTRY),
                  "companies": sorted(COMPANY_REGISTRIES)}))
""", lambda_env=False)
    assert got["built"] == ["gleif"] and got["tender formats"] is False
    assert got["companies"] == ["companies_house", "gleif", "qcc"]
    assert set(got["all"]) > set(got["companies"]) and "tender_rss" in got["all"]


def test_a_first_mixed_script_name_compiles_no_regex_class_over_the_cjk_ranges():
    # issue 15 item 1: a character class of the CJK ranges (~40,000 code points, walked one by one by re's
    # compiler) cost ~16 ms of a cold API container's first webhook with a name like "杭州星辰1号…"; the script of
    # each character comes from a translate table instead
    got = _python("""
import json, re
from re import _constants as c, _parser
seen = []
compile_ = re._compile
def spy(pattern, flags):
    seen.append(pattern)
    return compile_(pattern, flags)
re._compile = spy
from chalicelib.domain import names
for name in ("杭州星辰1号信息技术有限公司", "腾讯 Tencent 科技（北京）有限公司", "トヨタ 自動車 株式会社", "삼성전자 Samsung"):
    names.name_key(name)
def widest(items):
    out = 0
    for op, av in items:
        if op is c.IN:
            out = max(out, sum(b - a + 1 for kind, (a, b) in ((k, v) for k, v in av if k is c.RANGE)))
        elif op in (c.ASSERT, c.ASSERT_NOT):
            out = max(out, widest(av[1]))
        elif op in (c.SUBPATTERN,):
            out = max(out, widest(av[-1]))
        elif op is c.BRANCH:
            out = max([out, *(widest(b) for b in av[1])])
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            out = max(out, widest(av[2]))
    return out
print(json.dumps({"patterns": len(seen), "widest": max((widest(_parser.parse(p)) for p in seen if isinstance(p, str)), default=0),
                  "keys": [names.name_key(n) for n in ("杭州星辰1号信息技术有限公司",)]}))
""", lambda_env=False)
    assert got["patterns"] > 0 and got["keys"][0]  # the spy sees the compiled patterns, and the names were keyed
    assert got["widest"] < 1000


def test_the_webhooks_modules_load_no_scoring_rules_models():
    # issue 15 item 1: ``Registration.score`` (``ScoreSummary``) brought the 13 models of the scoring rules
    # documents into every cold API container; the webhook's lazy imports (and the store and domain modules they
    # reach) now load the registration schemas without them
    lazy = _imported_in(ROOT / "functions" / "chalicelib" / "handlers" / "intake.py",
                        {"receive_partner_opportunity", "_store", "_modules"})
    assert "chalicelib.store.registrations" in lazy and "schemas.registration" in lazy
    got = _python(f"""
import importlib, json, sys
import app
for name in {lazy!r}:
    try:
        importlib.import_module(name)
    except ImportError:
        pass  # "from package import function": the package is imported
from schemas import registration
registration.Registration.model_json_schema()  # and the answer model still builds, score included
print(json.dumps({{"loaded": sorted(m for m in sys.modules if m.startswith("schemas.")),
                  "score": "ScoreSummary" in json.dumps(registration.Registration.model_json_schema())}}))
""", lambda_env=False)
    assert "schemas.registration" in got["loaded"] and got["score"] is True
    assert "schemas.scoring" not in got["loaded"]


def test_the_settings_class_is_not_a_dataclass():
    # issue 15 item 1: a frozen dataclass of ~50 fields had its methods built by ``exec`` in every cold function
    # (~3 ms CPU, ~20 M instructions); a NamedTuple is as immutable and builds no code
    import dataclasses

    from chalicelib import settings

    assert not dataclasses.is_dataclass(settings.Settings) and issubclass(settings.Settings, tuple)
    s = settings.from_env({"DEALREG_PREFIX": "cold", "AWS_REGION": "eu-west-1"})
    assert s.table("registrations") == "cold-registrations" and s.status_shards == 8
    assert s._replace(prefix="warm").table("claims") == "warm-claims" and s.prefix == "cold"
    with pytest.raises(AttributeError):
        s.prefix = "changed"  # type: ignore[misc]


def test_the_first_webhook_validation_tokenizes_no_text_signature():
    # issue 15 item 1: pydantic reads each ``default_factory``'s signature; for a builtin (``list``) that parses its
    # text signature with ``tokenize``, compiling tokenize's regex (~14 M instructions of a first webhook)
    got = _python("""
import json, tokenize
from schemas import registration, webhook
body = json.load(open("../examples/opportunity.json"))
body["data"]["customer"].pop("registry_ids", None)
first, second = (webhook.OpportunityRegistered.model_validate(body) for _ in range(2))
print(json.dumps({"tokenize": tokenize._compile.cache_info().currsize,
                  "ids": first.data.customer.registry_ids, "own": first.data.customer.registry_ids is not
                  second.data.customer.registry_ids, "errors": registration.ErrorResponse(code="x", message="y").errors}))
""", lambda_env=False)
    assert got == {"tokenize": 0, "ids": [], "own": True, "errors": []}


def test_the_settings_fields_are_annotated_with_types_not_text():
    # session 8: with ``from __future__ import annotations`` every field's annotation was text, which NamedTuple
    # turns into a typing.ForwardRef, compiling it (42 compiles in every cold function, ~2.6 M instructions)
    import typing

    from chalicelib import settings

    annotations = settings.Settings.__annotations__
    assert len(annotations) >= 40
    assert [n for n, t in annotations.items() if isinstance(t, (str, typing.ForwardRef))] == []


def test_the_benchs_duplicate_check_shares_no_key_with_what_the_bench_registers():
    # bench.cold_start compares zips in alternating rounds; its duplicates/check must not find candidates that a
    # previous round's detect_duplicates indexed (the second zip would then do more work than the first)
    from bench.cold_start import CHECK_NAME, _customer
    from chalicelib.domain import dedup_keys

    def keys(name: str, query: bool) -> set[str]:
        return set(dedup_keys.blocking_keys(dedup_keys.name_forms(name), query=query)) | set(dedup_keys.exact_keys(name))

    asked = keys(CHECK_NAME, query=True)
    assert asked  # it is a real name: the check does look up keys
    indexed: set[str] = set()
    for n in range(2000):
        indexed |= keys(_customer(n), query=False)
    assert asked & indexed == set()
    assert keys(_customer(100_001), query=True) & indexed  # the old probe shared keys: this check can tell
