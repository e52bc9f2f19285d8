"""Work a cold start would redo in every container, done once when the package was built (issue 15).

A cold function spends ~20 % of its first invocation turning text into code, nearly all of it in the libraries'
module bodies: ~130 regular expressions compiled (urllib3's URL grammar, botocore, email, platform, html.parser;
Python's regex compiler is Python code), and ~1,350 snippets of generated source parsed — every text annotation
``typing.ForwardRef`` compiles (pydantic-core's TypedDicts, our schemas), the methods ``dataclasses`` writes and
``exec``-s, the ``__new__`` ``collections.namedtuple`` ``eval``-s.

``make package`` (``infra.package.precompiled``) imports what the functions import in the unzipped package, with
the zip's own Python version, and records (``precompiled.marshal``):
- for every regular expression compiled, the arguments ``re`` gave the regex engine's constructor
  (``_sre.compile``: the compiled program and its groups);
- for every source text those three stdlib functions compile, the code object ``compile`` makes of it, marshalled
  on its own: a function unmarshals only the code objects it uses, when it first uses each (the whole record's
  1,018 code objects at once cost the API ~15 M instructions of a cold start; its texts, the keys, are cheap).

:func:`seed` puts the patterns where ``re.compile`` looks first (``re._cache``, keyed as ``re`` keys it), and gives
``typing``, ``dataclasses`` and ``collections`` a ``compile`` / ``exec`` / ``eval`` of their own (a module global
shadows the builtin) that takes the recorded code object for a recorded text and calls the builtin for anything
else. A seeded pattern equals the one ``re`` would compile (a Pattern compares its program) and a recorded code
object is the one ``compile`` makes of its text: tests/unit/test_precompiled.py checks both for every entry.

The record is used only by the Python it was made for: the same major.minor version, bytecode (the pyc magic
number) and regex engine (``_sre.MAGIC``, ``_sre.CODESIZE``), like the pycs beside it; anything else (another
Python, no record: tests, ``make run``) seeds nothing and everything compiles as always. It is written against
CPython 3.11's ``re`` (``re._cache``, ``re._MAXCACHE``): on any other minor version (:data:`SUPPORTED`) nothing is
seeded, even with a record made by that version. A record that cannot be read (truncated, corrupt) seeds nothing
and says so on stderr — the function starts as it would without one. ``DEALREG_PRECOMPILED=off`` in a function's
environment turns it off (to rule it out when chasing a cold-start problem).

No ``from __future__ import annotations`` here, deliberately: ``exec``/``eval``/``compile`` of a text that is not
recorded inherit the future flags of the code that calls them, which is this module's ``runner``/``compile`` — with
that import, a dataclass the record never saw would get text annotations on its generated methods (``_type_x``
instead of ``int``), unlike the stdlib modules whose builtins they stand in for (none of them has it).
"""
import _sre
import builtins
import marshal
import os
import re
import sys
from importlib.util import MAGIC_NUMBER
from typing import Any

RECORD = os.path.join(os.path.dirname(__file__), "precompiled.marshal")
FORMAT = 3  # 3: each code object marshalled on its own
# (module, name of the builtin it calls, compile mode): the stdlib code generators the record covers
GENERATORS = (("typing", "compile", "eval"), ("dataclasses", "exec", "exec"), ("collections", "eval", "eval"))


SUPPORTED = (3, 11)


def engine() -> list:
    """What a record must have been made with to be used here."""
    return [FORMAT, list(sys.version_info[:2]), MAGIC_NUMBER, _sre.MAGIC, _sre.CODESIZE]


def _code(codes: dict[str, Any], source: str):
    """The recorded code object of ``source`` (unmarshalled at its first use, then kept), or None."""
    code = codes.get(source)
    if type(code) is bytes:
        try:
            code = marshal.loads(code)
        except (ValueError, EOFError, TypeError) as exc:  # a damaged entry: the builtin compiles it, as without a record
            print(f"dealreg: precompiled entry not used: {exc!r}", file=sys.stderr)
            code = None
        codes[source] = code
    return code


def _compile_with(codes: dict[str, Any]):
    def compile(source, filename, mode, flags=0, dont_inherit=False, optimize=-1, **kwargs):  # noqa: A001
        code = _code(codes, source) if (filename == "<string>" and mode == "eval" and not flags and not kwargs
                                        and type(source) is str) else None
        return code if code is not None else builtins.compile(source, filename, mode, flags, dont_inherit,
                                                              optimize, **kwargs)
    return compile


def _run_with(codes: dict[str, Any], run):
    def runner(source, globals=None, locals=None, /, **kwargs):  # noqa: A002
        code = _code(codes, source) if type(source) is str else None
        return run(source if code is None else code, globals, locals, **kwargs)
    return runner


def _read(path: str) -> tuple[dict, dict] | None:
    """The record's patterns (built) and sources, or None: no record, off, not for this Python, or unreadable."""
    if os.environ.get("DEALREG_PRECOMPILED", "").lower() == "off" or tuple(sys.version_info[:2]) != SUPPORTED:
        return None
    try:
        with open(path, "rb") as f:
            record = marshal.loads(f.read())
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - a bad record must not stop the function: it starts without one
        print(f"dealreg: precompiled record {path} not used: {exc!r}", file=sys.stderr)
        return None
    try:
        if record.get("engine") != engine():
            return None
        patterns = {(type(args[0]), args[0], flags): _sre.compile(*args) for flags, args in record["patterns"]}
        sources = {module: dict(record["sources"].get(module) or {}) for module, _, _ in GENERATORS}
        return patterns, sources
    except Exception as exc:  # noqa: BLE001 - as above
        print(f"dealreg: precompiled record {path} not used: {exc!r}", file=sys.stderr)
        return None


def seed(path: str = RECORD) -> dict[str, int]:
    """Seed ``re``'s cache and the three code generators from the record; returns how many of each (zeros: no
    record, turned off, not one for this Python, or unreadable — then nothing at all is seeded)."""
    read = _read(path)
    if read is None:
        return {"patterns": 0, "sources": 0}
    built, codes_of = read
    cache, room = re._cache, re._MAXCACHE  # type: ignore[attr-defined]
    patterns = 0
    for key, pattern in built.items():
        if len(cache) >= room:
            break
        if key not in cache:
            cache[key] = pattern
            patterns += 1
    sources = 0
    for module_name, builtin, _mode in GENERATORS:
        codes = codes_of[module_name]
        if not codes:
            continue
        own = _compile_with(codes) if builtin == "compile" else _run_with(codes, getattr(builtins, builtin))
        setattr(__import__(module_name), builtin, own)  # a module global: it shadows the builtin there only
        sources += len(codes)
    return {"patterns": patterns, "sources": sources}
