"""``dealreg dedup eval PAIRS.csv``: precision, recall and F1 of the production matcher on labelled pairs.

A pair is predicted "same" exactly as production decides a duplicate: both names go through the
production normalisation (``dedup_keys.name_forms``, name keys for the exact ``name`` rule), the production
score (``dedup_rules.name_score``) and the rule set (default: the shipped rules), and the pair counts as
"same" when the strongest rule that fires has action ``block`` or ``flag``. Nothing here is tuned to any
pair set.

The CSV has a header row; its first three columns are name, name, label (1 same / 0 different); further
columns are ignored. A UTF-8 BOM is accepted.
"""
from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.domain import names
from chalicelib.domain.dedup_keys import exact_keys, name_forms
from chalicelib.domain.dedup_rules import (
    MatchRules,
    default_rules,
    evaluate,
    is_duplicate_action,
    name_score,
    same_name,
)


@dataclass(frozen=True)
class PairResult:
    a: str
    b: str
    label: int
    predicted: int
    score: float
    rule: str | None
    kind: str = ""

    @property
    def same_script(self) -> bool:
        return script_class(self.a) == script_class(self.b)


@dataclass
class Figures:
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    def add(self, label: int, predicted: int) -> None:
        if label and predicted:
            self.tp += 1
        elif label:
            self.fn += 1
        elif predicted:
            self.fp += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def line(self, label: str) -> str:
        n = self.tp + self.fp + self.tn + self.fn
        return (f"{label:<12} pairs {n:>4}  precision {self.precision:.3f}  recall {self.recall:.3f}  "
                f"F1 {self.f1:.3f}  (tp {self.tp} fp {self.fp} tn {self.tn} fn {self.fn})")


@dataclass
class EvalReport:
    results: list[PairResult] = field(default_factory=list)

    def figures(self, *, same_script: bool | None = None, kind: str | None = None) -> Figures:
        out = Figures()
        for r in self.results:
            if (same_script is None or r.same_script == same_script) and (kind is None or r.kind == kind):
                out.add(r.label, r.predicted)
        return out

    @property
    def kinds(self) -> list[str]:
        return sorted({r.kind for r in self.results if r.kind})

    @property
    def misclassified(self) -> list[PairResult]:
        return [r for r in self.results if r.label != r.predicted]


def script_class(name: str) -> str:
    """``"cjk"`` when the name has CJK letters (Han, kana, Hangul), else ``"latin"``: pairs whose classes
    differ need translation or romanisation, not string similarity."""
    return "cjk" if any(names.is_cjk(ch) for ch in name) else "latin"


def read_pairs(path: str | Path) -> list[tuple[str, str, int]]:
    """Rows ``(name, name, label)`` of a pairs CSV (header row skipped, extra columns ignored).

    Raises:
        ValueError: a row has fewer than three columns or a label other than 0/1.
    """
    return [(a, b, label) for a, b, label, _ in read_labelled(path)]


def read_labelled(path: str | Path) -> list[tuple[str, str, int, str]]:
    """Rows ``(name, name, label, kind)``: ``kind`` is the column named ``kind`` in the header, else "".

    Raises:
        ValueError: a row has fewer than three columns or a label other than 0/1.
    """
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    header = [cell.strip().lower() for cell in rows[0]] if rows else []
    kind_at = header.index("kind") if "kind" in header else None
    out = []
    for number, row in enumerate(rows[1:], start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) < 3 or row[2].strip() not in ("0", "1"):
            raise ValueError(f"line {number}: expected name,name,label(0/1)")
        kind = row[kind_at].strip() if kind_at is not None and kind_at < len(row) else ""
        out.append((row[0], row[1], int(row[2]), kind))
    return out


def judge_pair(a: str, b: str, rules: MatchRules) -> tuple[int, float, str | None]:
    """The production decision for one pair: (predicted 0/1, name score, rule that fired)."""
    fa, fb = name_forms(a), name_forms(b)
    score = name_score(fa, fb)
    hit = evaluate(rules, score, exact_keys(a), exact_keys(b), names_equal=same_name(fa, fb))
    return int(hit is not None and is_duplicate_action(hit.action)), score, hit.rule if hit else None


def evaluate_pairs(pairs: Iterable[tuple[str, str, int] | tuple[str, str, int, str]],
                   rules: MatchRules | None = None) -> EvalReport:
    """Judge every pair (``(a, b, label)`` or ``(a, b, label, kind)``) with the production matcher."""
    rules = rules or default_rules()
    report = EvalReport()
    for a, b, label, *rest in pairs:
        predicted, score, rule = judge_pair(a, b, rules)
        report.results.append(PairResult(a, b, label, predicted, round(score, 1), rule, rest[0] if rest else ""))
    return report


def render(report: EvalReport, source: str) -> str:
    lines = [f"dedup eval: {source}", report.figures().line("all"),
             report.figures(same_script=True).line("same-script"),
             report.figures(same_script=False).line("cross-script")]
    if report.kinds:
        lines += ["", "by kind:"] + [report.figures(kind=k).line("").strip() + f"  {k}" for k in report.kinds]
    lines += ["", "misclassified:"]
    for r in report.misclassified:
        kind = "FN" if r.label else "FP"
        lines.append(f"  {kind}  {r.a} | {r.b}  score {r.score:.1f}  rule {r.rule or '-'}"
                     f"{'' if r.same_script else '  (cross-script)'}")
    return "\n".join(lines)


def main(paths: Sequence[str], rules_document: str | None = None) -> str:
    """Evaluate each file and return the printed report."""
    from chalicelib.domain.dedup_rules import load_rules

    rules = load_rules(rules_document)
    return "\n\n".join(render(evaluate_pairs(read_labelled(p), rules), str(p)) for p in paths)
