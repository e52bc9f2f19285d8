"""Model score speed (issue 19): per-registration scoring time, model load time, cold import of the scorer.

    .venv/bin/python -m bench.scoring_speed --model /tmp/ibm_model.json [--registrations 2000]

``--model`` is a document written by ``dealreg scoring eval … --out`` (the IBM model; any published model
works). Measured in this process: loading the document into ``scoring_model.Model`` including the compile of
its trees (what a warm function does once per published version), then ``record_of`` + ``Model.score`` (with
the top factors) for synthetic registrations built from ``examples/opportunity.json`` with varied fields.
In fresh interpreters: ``import app`` (the API function's init) and ``import chalicelib.domain.scoring_model``
(what the first scores request adds), so the cold start before/after this feature can be compared with the
intake figure above.
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _fresh(code: str, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        text = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                              env={"PYTHONPATH": f"{ROOT / 'functions'}:{ROOT}", "PATH": "/usr/bin:/bin",
                                   "AWS_DEFAULT_REGION": "us-east-1"}).stdout
        out.append(float(text.strip().splitlines()[-1]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--registrations", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    sys.path[:0] = [str(ROOT / "functions"), str(ROOT)]
    from chalicelib.domain import scoring_model as sm
    from schemas.registration import Registration

    doc = json.loads(Path(args.model).read_text(encoding="utf-8"))
    loads, load_cpu = [], []
    for _ in range(args.runs):
        t, c = time.perf_counter(), time.thread_time()
        model = sm.Model(doc)
        model.raw([0.0] * len(model.spec))  # the first call compiles
        loads.append((time.perf_counter() - t) * 1000)
        load_cpu.append((time.thread_time() - c) * 1000)
    example = json.loads((ROOT / "examples" / "opportunity.json").read_text())["data"]
    rng = random.Random(1)
    regs = []
    now = datetime.now(UTC)
    for i in range(args.registrations):
        data = copy.deepcopy(example)
        data["customer"]["region"] = rng.choice(["Midwest", "Pacific", "Northwest", "广东省深圳市"])
        data["project"]["products"] = [rng.choice(["Motorcycle Parts", "Exterior Accessories", "Shelters & RV"])]
        data["project"]["expected_amount"] = {"amount": str(rng.randint(1, 2000) * 500), "currency": "USD"}
        regs.append(Registration(**data, id=f"reg_{i}", status="approved", source="partner",
                                 submitter={"kind": "partner", "id": "acme"}, customer_key="k", created_at=now,
                                 updated_at=now, version=1, audit=[]))
    per, cpu = [], []
    for reg in regs:
        t, c = time.perf_counter(), time.thread_time()
        model.score(sm.record_of(reg, customer_facts={"revenue_band": rng.randint(1, 5)}))
        per.append((time.perf_counter() - t) * 1000)
        cpu.append((time.thread_time() - c) * 1000)
    per.sort()
    cpu.sort()
    # what a list item costs (issue 19: domain.scoring.summary = attribute score + model probability, no factors),
    # and ranking 500 (GET /v1/registrations?sort=score ranks the newest 500), CPU
    from chalicelib.domain.scoring import rank, summary
    from chalicelib.domain.scoring_rules import load_attribute_rules

    rules_doc = load_attribute_rules()
    listed = []
    for reg in regs:
        c = time.thread_time()
        summary(reg, attribute_rules=rules_doc, model=model)
        listed.append((time.thread_time() - c) * 1000)
    listed.sort()
    ranks = []
    for _ in range(args.runs):
        c = time.thread_time()
        sums = {r.id: summary(r, attribute_rules=rules_doc, model=model) for r in regs[:500]}
        rank(sums, regs[:500])
        ranks.append((time.thread_time() - c) * 1000)
    # before/after: the same app source with and without the scoring blueprint, alternating, fresh interpreters
    init = ("import time; src = open('functions/app.py').read(){strip}; t = time.perf_counter(); "
            "exec(compile(src, 'app.py', 'exec'), {{'__name__': 'app'}}); print((time.perf_counter() - t) * 1000)")
    strip = (".replace('from chalicelib.handlers import scoring\\n', '')"
             ".replace('app.register_blueprint(scoring.bp)\\n', '')")
    before, after = [], []
    for _ in range(args.runs):
        before += _fresh(init.format(strip=strip), 1)
        after += _fresh(init.format(strip=""), 1)
    scorer = _fresh("import time; t=time.perf_counter(); import chalicelib.domain.scoring_model; "
                    "print((time.perf_counter()-t)*1000)", args.runs)
    rules = _fresh("import time; t=time.perf_counter(); import chalicelib.domain.scoring_rules; "
                   "print((time.perf_counter()-t)*1000)", args.runs)
    print(json.dumps({
        "model": {"version": doc["version"], "trees": len(doc["trees"]), "features": len(doc["features"]),
                  "json_bytes": len(json.dumps(doc))},
        "load_and_compile_ms_median": {"wall": round(statistics.median(loads), 1),
                                       "cpu": round(statistics.median(load_cpu), 1)},
        "score_ms": {"registrations": len(per), "median": round(statistics.median(per), 3),
                     "p95": round(per[int(0.95 * len(per))], 3), "max": round(per[-1], 3),
                     "cpu_median": round(statistics.median(cpu), 3), "cpu_p95": round(cpu[int(0.95 * len(cpu))], 3)},
        "list_summary_cpu_ms": {"median": round(statistics.median(listed), 3),
                                "p95": round(listed[int(0.95 * len(listed))], 3)},
        "rank_500_cpu_ms_median": round(statistics.median(ranks), 1),
        "app_init_ms_median": {"without_scoring": round(statistics.median(before), 1),
                               "with_scoring": round(statistics.median(after), 1)},
        "fresh_import_ms_median": {"scoring_model": round(statistics.median(scorer), 1),
                                   "scoring_rules (pydantic rules models)": round(statistics.median(rules), 1)},
    }, indent=1))


if __name__ == "__main__":
    main()
