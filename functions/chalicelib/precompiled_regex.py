"""Regular expressions compiled when the package was built, handed to ``re``'s cache at a cold start (issue 15).

A cold function compiles ~130 regular expressions before its first answer, nearly all in the libraries' module
bodies (urllib3's URL grammar, botocore, email, platform, html.parser, ...): Python's regex compiler is Python
code, ~9 % of the API's first invocation. ``make package`` (``infra.package.precompiled_regexes``) imports what
the functions import in the unzipped package with the zip's own Python version and records, for every pattern
compiled, the arguments ``re`` passed to the regex engine's constructor (``_sre.compile``: the compiled program
and its groups). :func:`seed` builds those pattern objects from that record and puts them where ``re.compile``
looks first (``re._cache``, keyed as ``re`` keys it), so the libraries' own ``re.compile`` calls find them.

The record is used only by the Python it was made for: the same major.minor version and the same regex engine
(``_sre.MAGIC``, ``_sre.CODESIZE``), like the pycs beside it; anything else (another Python, no record: tests,
``make run``) seeds nothing and ``re`` compiles as always. A seeded pattern equals the one ``re`` would compile
(a Pattern compares its program), which tests/unit/test_precompiled_regex.py checks for every recorded pattern.
CPython 3.11's ``re`` (``re._cache``, ``re._MAXCACHE``) is what this is written against; the guard above keeps
any other version out.
"""
from __future__ import annotations

import _sre
import marshal
import os
import re
import sys

RECORD = os.path.join(os.path.dirname(__file__), "precompiled_regex.marshal")
FORMAT = 1


def engine() -> list:
    """What a record must have been made with to be used here."""
    return [FORMAT, list(sys.version_info[:2]), _sre.MAGIC, _sre.CODESIZE]


def seed(path: str = RECORD) -> int:
    """Put the recorded patterns into ``re``'s cache; returns how many (0: no record, or not for this Python)."""
    try:
        with open(path, "rb") as f:
            record = marshal.loads(f.read())
    except FileNotFoundError:
        return 0
    if record.get("engine") != engine():
        return 0
    cache, room = re._cache, re._MAXCACHE  # type: ignore[attr-defined]
    added = 0
    for flags, args in record["patterns"]:
        key = (type(args[0]), args[0], flags)
        if len(cache) >= room:
            break
        if key not in cache:
            cache[key] = _sre.compile(*args)
            added += 1
    return added
