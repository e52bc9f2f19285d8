"""Where tests find third-party data: the shared corpus beside the repository, never the repository itself.

Data that comes from other public repositories (feedparser's test feeds, OCDS and TED samples, real tender
notices, name-matching pairs, identifier lists, Standard Webhooks vectors, IBM's win/loss sample) is not
committed here. It lives in ``../shared/corpora`` on every developer machine and in CI; a user's fresh clone
has none of it, so the tests that need it are skipped there with one clear reason.

- ``DEALREG_CORPORA``: the corpus root (default: ``../shared/corpora`` next to the repository root).
- ``DEALREG_REQUIRE_CORPORA=1`` (set by ``.ci/run``): a missing corpus fails the run instead of skipping.

Use ``corpus("real_tenders", "ocds")`` in a test or fixture: it returns the path, or skips the test.
A module or test marked ``@pytest.mark.corpus("feedparser")`` calls it before the test runs (tests/conftest.py),
and ``files()`` / ``params()`` build parametrize lists that degrade to one skipped test when the corpus is
absent. ``make test`` ends with one line counting the tests skipped for want of the corpus.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPORA_ENV = "DEALREG_CORPORA"
REQUIRE_ENV = "DEALREG_REQUIRE_CORPORA"


def corpora_root() -> Path:
    """The configured corpus root (it may not exist)."""
    configured = os.environ.get(CORPORA_ENV)
    return Path(configured).expanduser().resolve() if configured else (REPO_ROOT.parent / "shared" / "corpora").resolve()


def skip_reason() -> str:
    return f"third-party corpus not found at {corpora_root()}; set {CORPORA_ENV} (see tests/corpora.py)"


def available(*parts: str) -> bool:
    return corpora_root().joinpath(*parts).exists()


def corpus(*parts: str) -> Path:
    """The path of a corpus file or folder; skips the calling test when the corpus is absent.

    Under ``DEALREG_REQUIRE_CORPORA=1`` a missing corpus (or a missing file inside a present corpus) fails
    instead, so CI cannot pass by silently skipping the tests that read real data.
    """
    root = corpora_root()
    path = root.joinpath(*parts)
    if path.exists():
        return path
    if os.environ.get(REQUIRE_ENV) == "1" or root.is_dir():
        pytest.fail(f"corpus file missing: {path}", pytrace=False)
    pytest.skip(skip_reason())


def files(*parts: str, suffixes: tuple[str, ...] = ()) -> list[str]:
    """Relative POSIX paths of the files under a corpus folder, sorted; empty when the corpus is absent.

    For collection time (``parametrize``): it never skips. Pair it with :func:`params` so that an absent
    corpus gives one skipped test per test function instead of an "empty parameter set".
    """
    root = corpora_root().joinpath(*parts)
    if not root.is_dir():
        return []
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and (not suffixes or p.name.endswith(suffixes))
    )


def params(values: list, *parts: str, arity: int = 1) -> list:
    """``parametrize`` values of a corpus-driven test; when the corpus is absent (``values`` empty and the
    corpus folder missing), one placeholder whose run calls :func:`corpus` and so skips (or fails under
    ``DEALREG_REQUIRE_CORPORA=1``) with the one reason."""
    if values or available(*parts):
        return values
    placeholder = (None,) * arity
    return [pytest.param(*placeholder, id="corpus-absent", marks=pytest.mark.corpus(*parts))]


def is_corpus_skip(reason: str) -> bool:
    return reason.startswith("third-party corpus not found at ")
