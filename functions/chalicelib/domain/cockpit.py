"""The cockpit's (业务数据驾驶舱) figures as contributions of single registrations, and the figures read back. Pure.

Like the board (``domain/board.py``), every figure is a sum of per-registration contributions computed from
the registration's current image and its append-only audit trail, so the stream consumer keeps the
aggregates exact by adding ``contribution(new) - contribution(old)`` and a recount is the sum of all
contributions. Cells of one partition (``cockpit#all`` / ``cockpit#team#<id>``), days and weeks in UTC:

* ``new#<day>``                          registrations created that day (a week is the sum of its days)
* ``reach#<week>#<approved|won|lost>``  of the registrations created in that week (cohort), those that ever
                                         reached the status — the conversion submitted → approved → won
* ``conflict#<week>``                   registrations whose automatic check first found the customer protected
                                         by another holder in that week (冲突)
* ``reclaimed#<week>``                  reclaims (回收到公海) in that week
* ``dwell#<stage>#<bucket>``            completed stays in a stage (count; ``cents`` holds the summed seconds):
                                         ``review`` is pending_review → decision; a sales stage's stay runs from
                                         approval or the move into it to the move out of it or the close (the
                                         close line names the stage it ends, so a deal never moved has one too)
* ``forecast#<month>#<stage>#<cur>``    open (approved) registrations by month of expected close, stage and
                                         currency (count, cents): the weighted forecast applies the stage's
                                         probability when read, so changing the configured stages needs no recount;
                                         a month before the current one is read back as overdue (still open)
* ``partner#<partner id>#<submitted|approved|won>``  a partner's registrations (top partners)
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from schemas.registration import AuditEntry, Registration, RegistrationStatus as S

ALL = "cockpit#all"
REVIEW = "review"
# Upper bounds (days) of the stay buckets; the last bucket is open. p90 is read as the bucket's upper bound.
BUCKETS = (1, 2, 3, 5, 7, 10, 14, 21, 30, 45, 60, 90, 120, 180, 365)
CONFLICT_MARK = "conflict: the customer is protected by another holder"
REACHED = (S.APPROVED, S.WON, S.LOST)


def team_partition(team_id: str | None) -> str:
    return f"cockpit#team#{team_id or '-'}"


def day_of(at: datetime) -> str:
    return at.date().isoformat()


def week_of(at: datetime | date) -> str:
    """The ISO week as its Monday (``2026-11-30``)."""
    d = at.date() if isinstance(at, datetime) else at
    return (d - timedelta(days=d.weekday())).isoformat()


def bucket_of(seconds: float) -> int:
    days = seconds / 86400
    return next((i for i, bound in enumerate(BUCKETS) if days <= bound), len(BUCKETS))


def stage_move_of(entry: AuditEntry) -> tuple[str, str] | None:
    """(from, to) of a ``stage_changed`` line (``domain.pipeline.move_line`` writes ``from -> to[: reason]``)."""
    if entry.action != "stage_changed" or not entry.reason or " -> " not in entry.reason:
        return None
    frm, _, rest = entry.reason.partition(" -> ")
    return frm.strip(), rest.split(":", 1)[0].strip()


def stays(audit: list[AuditEntry]) -> list[tuple[str, float]]:
    """Completed stays ``(stage, seconds)`` the audit trail records (see the module note)."""
    out: list[tuple[str, float]] = []
    review_since: datetime | None = None
    stage: str | None = None  # the sales stage the registration is known to be in while approved
    stage_since: datetime | None = None
    approved = False
    for e in sorted(audit, key=lambda x: x.seq):
        move = stage_move_of(e)
        if move is not None:
            frm, to = move
            if approved and stage_since is not None and (stage is None or stage == frm):
                out.append((frm, (e.at - stage_since).total_seconds()))
            stage, stage_since = to, e.at
            continue
        if e.to_status is None:
            continue
        if e.to_status is S.PENDING_REVIEW:
            review_since = e.at
        elif review_since is not None:
            out.append((REVIEW, (e.at - review_since).total_seconds()))
            review_since = None
        if e.to_status is S.APPROVED:
            approved, stage_since = True, e.at  # the stage it is approved at is known from its next move
            stage = None
        elif approved:
            # The close line names the stage it ended (``domain.ownership.close``): a deal closed in the stage
            # it was approved at, never moved, has its stay too. Lines written before they named it: the moves.
            closed_in = e.stage or stage
            if e.to_status in (S.WON, S.LOST) and closed_in is not None and stage_since is not None:
                out.append((closed_in, (e.at - stage_since).total_seconds()))
            approved, stage, stage_since = False, None, None
    return out


def _first(audit: list[AuditEntry], test) -> AuditEntry | None:
    return next((e for e in sorted(audit, key=lambda x: x.seq) if test(e)), None)


def contribution(reg: Registration | None) -> list[tuple[str, str, int, int]]:
    """``[(partition, cell, count, cents)]`` this registration adds to the cockpit, in its team's partition and
    in the all-teams partition."""
    if reg is None:
        return []
    cells: list[tuple[str, int, int]] = [(f"new#{day_of(reg.created_at)}", 1, 0)]
    cohort = week_of(reg.created_at)
    reached = {e.to_status for e in reg.audit if e.to_status is not None} | {reg.status}
    cells += [(f"reach#{cohort}#{st.value}", 1, 0) for st in REACHED if st in reached]
    hit = _first(reg.audit, lambda e: bool(e.reason) and CONFLICT_MARK in e.reason)
    if hit is not None:
        cells.append((f"conflict#{week_of(hit.at)}", 1, 0))
    cells += [(f"reclaimed#{week_of(e.at)}", 1, 0) for e in reg.audit if e.to_status is S.RECLAIMED]
    cells += [(f"dwell#{stage}#{bucket_of(sec)}", 1, int(sec)) for stage, sec in stays(reg.audit)]
    if reg.status is S.APPROVED:
        money = reg.project.expected_amount
        cents = int((Decimal(money.amount) * 100).to_integral_value())
        month = reg.project.expected_close_date.isoformat()[:7]
        cells.append((f"forecast#{month}#{reg.sales_stage.value}#{money.currency}", 1, cents))
    if reg.partner_id:
        cells += [(f"partner#{reg.partner_id}#{k}", 1, 0) for k, st in
                  (("submitted", S.SUBMITTED), ("approved", S.APPROVED), ("won", S.WON))
                  if st is S.SUBMITTED or st in reached]
    return [(part, cell, count, cents) for part in (team_partition(reg.team_id), ALL) for cell, count, cents in cells]


def deltas(old: Registration | None, new: Registration | None) -> list[tuple[str, str, int, int]]:
    """What to add to each cockpit (partition, cell) for a change from ``old`` to ``new``."""
    from chalicelib.domain.board import deltas_of

    return deltas_of(contribution, old, new)


# --- reading the figures back --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Window:
    """What a cockpit read covers: ``weeks`` ISO weeks ending with the one of ``today`` (days too), and
    ``months`` months of expected close from the month of ``today``, after ``past_months`` months before it
    (deals still open whose expected close month has passed: overdue)."""

    today: date
    weeks: int
    months: int
    past_months: int = 0

    @property
    def week_starts(self) -> list[str]:
        monday = self.today - timedelta(days=self.today.weekday())
        return [(monday - timedelta(weeks=i)).isoformat() for i in range(self.weeks - 1, -1, -1)]

    @property
    def days(self) -> list[str]:
        first = date.fromisoformat(self.week_starts[0])
        return [(first + timedelta(days=i)).isoformat() for i in range((self.today - first).days + 1)]

    @property
    def current_month(self) -> str:
        return f"{self.today.year:04d}-{self.today.month:02d}"

    @property
    def month_keys(self) -> list[str]:
        """``past_months`` months before the month of ``today``, then ``months`` months from it, in order."""
        index = self.today.year * 12 + self.today.month - 1 - self.past_months
        return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index, index + self.past_months + self.months)]

    def ranges(self) -> list[tuple[str, str]]:
        """The sort-key ranges (inclusive) one cockpit read queries: each bounded by the window, not by the
        number of registrations."""
        w0, w1 = self.week_starts[0], self.week_starts[-1]
        m0, m1 = self.month_keys[0], self.month_keys[-1]
        return [(f"new#{self.days[0]}", f"new#{self.days[-1]}"), (f"reach#{w0}", f"reach#{w1}#~"),
                (f"conflict#{w0}", f"conflict#{w1}"), (f"reclaimed#{w0}", f"reclaimed#{w1}"),
                ("dwell#", "dwell#~"), (f"forecast#{m0}", f"forecast#{m1}#~"), ("partner#", "partner#~")]


def percentile_bucket(counts: dict[int, int], q: float) -> float | None:
    """The upper bound (days) of the bucket holding the ``q`` quantile; None for no stays; the open last
    bucket answers its lower bound."""
    n = sum(counts.values())
    if not n:
        return None
    seen = 0
    for b in range(len(BUCKETS) + 1):
        seen += counts.get(b, 0)
        if seen >= q * n:
            return float(BUCKETS[b] if b < len(BUCKETS) else BUCKETS[-1])
    return float(BUCKETS[-1])


def rate(num: int, den: int) -> Decimal | None:
    return (Decimal(num) / Decimal(den)).quantize(Decimal("0.0001")) if den else None


def figures(cells: list[tuple[str, int, int]], window: Window, stages: list[tuple[str, Decimal]], *,
            top: int = 10) -> dict:
    """The cockpit from the cells read (``(sk, count, cents)``), ``stages`` = the configured (key, probability)
    in pipeline order. Plain values; the handler turns them into the API model."""
    new_by_day: dict[str, int] = defaultdict(int)
    by_week: dict[str, dict[str, int]] = {w: defaultdict(int) for w in window.week_starts}
    dwell: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    forecast: dict[str, dict[str, list[int]]] = {m: defaultdict(lambda: [0, 0]) for m in window.month_keys}
    partners: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    prob = dict(stages)
    days = set(window.days)
    for sk, count, cents in cells:
        kind, _, rest = sk.partition("#")
        if kind == "new" and rest in days:
            new_by_day[rest] += count
            week = week_of(date.fromisoformat(rest))
            if week in by_week:
                by_week[week]["new"] += count
        elif kind == "reach":
            week, _, status = rest.partition("#")
            if week in by_week:
                by_week[week][status] += count
        elif kind in ("conflict", "reclaimed") and rest in by_week:
            by_week[rest][kind] += count
        elif kind == "dwell":
            stage, _, b = rest.partition("#")
            dwell[stage][int(b)][0] += count
            dwell[stage][int(b)][1] += cents
        elif kind == "forecast":
            month, stage, cur = rest.split("#")
            if month in forecast and stage in prob:
                f = forecast[month][cur]
                f[0] += cents
                f[1] += int((Decimal(cents) * prob[stage]).to_integral_value())
        elif kind == "partner":
            pid, _, what = rest.rpartition("#")
            partners[pid][what] += count
    weeks: list[dict[str, Any]] = [{"week": w, **{k: by_week[w].get(k, 0) for k in
                                                  ("new", "approved", "won", "lost", "conflict", "reclaimed")}}
                                   for w in window.week_starts]
    submitted = sum(w["new"] for w in weeks)
    approved, won, lost = (sum(w[k] for w in weeks) for k in ("approved", "won", "lost"))
    stage_rows: list[dict[str, Any]] = []
    for key in [REVIEW] + [k for k, _ in stages]:
        got = dwell.get(key, {})
        n = sum(c for c, _ in got.values())
        secs = sum(s for _, s in got.values())
        stage_rows.append({"stage": key, "stays": n,
                           "avg_days": (Decimal(secs) / 86400 / n).quantize(Decimal("0.1")) if n else None,
                           "p90_days": percentile_bucket({b: c for b, (c, _) in got.items()}, 0.9)})
    timed = [r for r in stage_rows if r["avg_days"] is not None]
    bottleneck = max(timed, key=lambda r: r["avg_days"])["stage"] if timed else None
    ranked = sorted(partners.items(), key=lambda kv: (-kv[1].get("submitted", 0), -kv[1].get("won", 0), kv[0]))
    return {
        "days": [{"day": d, "new": new_by_day.get(d, 0)} for d in window.days],
        "weeks": weeks,
        "conversion": {"submitted": submitted, "approved": approved, "won": won, "lost": lost,
                       "approval_rate": rate(approved, submitted), "won_of_approved": rate(won, approved),
                       "win_rate": rate(won, won + lost)},
        "stages": stage_rows, "bottleneck": bottleneck,
        # a month before the current one still holding open deals: their expected close has passed (overdue)
        "forecast": [{"month": m, "overdue": m < window.current_month,
                      "amounts": [(cur, v[0]) for cur, v in sorted(forecast[m].items())],
                      "weighted": [(cur, v[1]) for cur, v in sorted(forecast[m].items())]} for m in window.month_keys],
        "top_partners": [{"partner_id": pid, "submitted": v.get("submitted", 0), "approved": v.get("approved", 0),
                          "won": v.get("won", 0)} for pid, v in ranked[:top]],
    }
