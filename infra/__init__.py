"""Operator tooling: packaging, the local AWS stand-in and event runner, the ``dealreg`` CLI.

Nothing here ships in a Lambda bundle. It imports the functions (``functions/`` is the Chalice project
dir, so ``chalicelib`` and ``app`` are importable as they are in Lambda), never the other way round.
"""
from __future__ import annotations

import sys
from pathlib import Path

FUNCTIONS_DIR = Path(__file__).resolve().parents[1] / "functions"
if str(FUNCTIONS_DIR) not in sys.path:
    sys.path.insert(0, str(FUNCTIONS_DIR))
