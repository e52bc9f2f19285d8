"""Where tests find third-party data: the shared corpus beside the repository, never the repository itself.

Data that comes from other public repositories (feedparser's test feeds, OCDS and TED samples, real tender
notices, name-matching pairs, identifier lists, Standard Webhooks vectors, IBM's win/loss sample) is not
committed here. It lives in ``../shared/corpora`` on every developer machine and in CI; a user's fresh clone
has none of it, so the tests that need it are skipped there with one clear reason.

- ``DEALREG_CORPORA``: the corpus root (default: ``../shared/corpora`` next to the repository root).
- ``DEALREG_REQUIRE_CORPORA=1`` (set by ``.ci/run``): a missing corpus fails the run instead of skipping.

Use ``corpus("real_tenders", "ocds")`` in a test or fixture: it returns the path, or skips the test.
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
