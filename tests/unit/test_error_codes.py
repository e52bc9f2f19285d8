"""One code, one meaning: a client switches on ``code``, so no code may be answered with two HTTP statuses (session 7
left ``team_inactive`` as both 403 — the caller's own team is deactivated — and 422 — a team the request named is).

Every refusal class (a ``DealregError`` subclass that sets ``code`` or ``status``) and every refusal raised with a
literal code (``HttpError(403, "forbidden", …)``, ``SomeError(…, code="…", status=…)``) is collected; each code must
map to one status.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Imports every module of the product in a fresh interpreter (nothing leaks into this test process) and prints
# {code: [[class, status], ...]} of the refusal classes that set a code or a status themselves.
_CLASSES = """
import importlib, json, pkgutil, sys
import chalicelib, connectors
from chalicelib.domain.errors import DealregError
for pkg in (chalicelib, connectors):
    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        importlib.import_module(m.name)
seen, out, todo = set(), {}, [DealregError]
while todo:
    for sub in todo.pop().__subclasses__():
        if sub not in seen:
            seen.add(sub)
            todo.append(sub)
            if "code" in vars(sub) or "status" in vars(sub):
                out.setdefault(sub.code, []).append([f"{sub.__module__}.{sub.__qualname__}", sub.status])
print(json.dumps(out))
"""


def _class_codes() -> dict[str, list[list]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", _CLASSES], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _literal_codes() -> dict[str, list[list]]:
    """Refusals raised with a literal code: ``HttpError(status, "code", …)`` and ``…Error(…, code="…", status=…)``
    (a ``code=`` without a literal ``status=`` keeps its class's status, named by the class)."""
    out: dict[str, list[list]] = defaultdict(list)
    for path in [*(ROOT / "functions" / "chalicelib").rglob("*.py"), *(ROOT / "connectors").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None) or ""
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if name == "HttpError" and len(node.args) >= 2 and all(isinstance(a, ast.Constant) for a in node.args[:2]):
                out[node.args[1].value].append([where, node.args[0].value])
            kw = {k.arg: k.value for k in node.keywords}
            if name.endswith("Error") and isinstance(kw.get("code"), ast.Constant):
                status = kw.get("status")
                out[kw["code"].value].append([where, status.value if isinstance(status, ast.Constant) else name])
    return out


def test_every_code_is_answered_with_one_status():
    classes = _class_codes()
    status_of_class = {name.rsplit(".", 1)[1]: status for group in classes.values() for name, status in group}
    status_of_class.update(DealregError=409, HttpError=None)
    table: dict[str, set] = defaultdict(set)
    for code, group in classes.items():
        table[code].update((status, name) for name, status in group)
    for code, group in _literal_codes().items():
        for where, status in group:
            table[code].add((status_of_class.get(status, status) if isinstance(status, str) else status, where))
    assert len(table) > 30, "too few codes found: the walk is broken"
    assert {s for s, _ in table["team_inactive"]} == {403} and {s for s, _ in table["team_deactivated"]} == {422}
    shared = {code: sorted(found, key=str) for code, found in table.items() if len({s for s, _ in found}) > 1}
    assert not shared, shared
