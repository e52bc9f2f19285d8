"""Attribute score (属性评分) and behaviour points (行为积分), each with its top factors in zh-CN and en. Pure.

Attribute: the rules document (``schemas.scoring.AttributeRules``) tested on the registration's scoring record
(``scoring_model.record_of``, the same fields the model sees); ``base`` + the points of every rule that holds,
clamped to 0–100.

Behaviour: what happened to the registration — its audit trail (edits, approvals, ownership moves, status
changes, the pipeline's sales-stage moves) and its logged follow-ups by type — each worth the points of
``schemas.scoring.BehaviourRules``, halved every ``half_life_days`` of age; the sum is the points, and
``100 · points / cap`` clamped to 0–100 is the score. It is computed from the stored history when read, so it
never races the workflow and decays without a job rewriting it.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from schemas.scoring import AttributeRules, BehaviourRules, Condition

DEFAULT_ATTRIBUTE_RULES = Path(__file__).parent / "data" / "attribute_rules.default.json"
STAGES = ("lead", "qualification", "needs_analysis", "proposal", "negotiation")
FOLLOW_UP_ZH = {"call": "电话", "visit": "拜访", "meeting": "会议", "email": "邮件", "demo": "演示",
                "proposal": "方案", "other": "其他"}
ACTION_ZH = {"updated": "资料更新", "approval_recorded": "一级审批通过", "claimed": "领取", "extended": "延期",
             "assigned": "分配", "transferred": "转交"}
STATUS_ZH = {"approved": "审批通过", "rejected": "被驳回", "withdrawn": "撤回", "reclaimed": "被回收",
             "expired": "过期", "pending_review": "进入审批"}


@lru_cache(maxsize=8)
def load_attribute_rules(text: str = "") -> AttributeRules:
    """The rules in force: ``text`` (JSON, e.g. ``DEALREG_ATTRIBUTE_RULES``) or the bundled defaults."""
    return AttributeRules.model_validate(json.loads(text) if text else
                                         json.loads(DEFAULT_ATTRIBUTE_RULES.read_text(encoding="utf-8")))


@lru_cache(maxsize=8)
def load_behaviour_rules(text: str = "") -> BehaviourRules:
    return BehaviourRules.model_validate(json.loads(text) if text else {})


def _holds(cond: Condition, record: Mapping[str, Any]) -> bool:
    value = record.get(cond.field)
    if cond.present is not None and (value is not None and value != "") != cond.present:
        return False
    if cond.currency is not None and record.get("project.currency") != cond.currency:
        return False
    if cond.in_ is not None and (value is None or str(value) not in cond.in_):
        return False
    if cond.prefix is not None and (value is None or not any(str(value).startswith(p) for p in cond.prefix)):
        return False
    if cond.min is not None or cond.max is not None:
        if value is None:
            return False
        number = float(value)
        if cond.min is not None and number < cond.min:
            return False
        if cond.max is not None and number >= cond.max:
            return False
    return True


def _factor(source: str, key: str, effect: float, zh: str, en: str) -> dict[str, Any]:
    return {"source": source, "key": key, "effect": round(effect, 2), "zh-CN": zh, "en": en}


def attribute_score(record: Mapping[str, Any], rules: AttributeRules, *, top: int = 3
                    ) -> tuple[int, list[dict[str, Any]]]:
    """(0–100 score, the rules that moved it most)."""
    hits = [r for r in rules.rules if all(_holds(c, record) for c in r.when)]
    score = max(0, min(100, rules.base + sum(r.points for r in hits)))
    hits.sort(key=lambda r: -abs(r.points))
    return score, [_factor("attribute", r.id, r.points, f"{r.label.zh}({r.points:+d})", f"{r.label.en} ({r.points:+d})")
                   for r in hits[:top] if r.points]


_STAGE_MOVE = re.compile(r"^([a-z_]+) -> ([a-z_]+)")


def stage_moves_of(audit: Sequence[Any]) -> list[tuple[datetime, str, str]]:
    """(when, stage before, stage after) of every sales-stage move in the audit trail: the pipeline's
    ``stage_changed`` lines, whose reason starts ``<before> -> <after>`` (``domain.pipeline.move_line``)."""
    moves = []
    for e in audit:
        if e.action == "stage_changed" and e.reason:
            m = _STAGE_MOVE.match(e.reason)
            if m:
                moves.append((e.at, m.group(1), m.group(2)))
    return moves


def _stage_steps(before: str | None, after: str | None) -> int:
    if before in STAGES and after in STAGES:
        return STAGES.index(after) - STAGES.index(before)
    return 0


def behaviour_points(audit: Sequence[Any], follow_ups: Iterable[Any], rules: BehaviourRules, *, now: datetime,
                     stage_moves: Iterable[tuple[datetime, str | None, str | None]] = (), top: int = 3
                     ) -> tuple[float, int, list[dict[str, Any]]]:
    """(decayed points, 0–100 score, top factors). ``audit`` entries need ``at``, ``action``, ``to_status``;
    ``follow_ups`` need ``at`` and ``type``; ``stage_moves`` are (when, stage before, stage after) of edits."""
    half = rules.half_life_days * 86400.0
    items: list[tuple[str, float, str, str]] = []  # (key, decayed points, zh, en)

    def add(key: str, points: float, at: datetime, zh: str, en: str) -> None:
        if points:
            age = max(0.0, (now - at).total_seconds())
            items.append((key, points * 0.5 ** (age / half), zh, en))

    for e in audit:
        action = e.action
        status = e.to_status.value if hasattr(e.to_status, "value") else e.to_status
        if action in rules.audit_actions:
            add(f"action:{action}", rules.audit_actions[action], e.at, ACTION_ZH.get(action, action), action)
        elif status in rules.to_status:
            add(f"status:{status}", rules.to_status[status], e.at, STATUS_ZH.get(status, status), f"moved to {status}")
    for f in follow_ups:
        kind = f.type.value if hasattr(f.type, "value") else f.type
        add(f"follow_up:{kind}", rules.follow_ups.get(kind, 0.0), f.at, f"跟进({FOLLOW_UP_ZH.get(kind, kind)})",
            f"follow-up ({kind})")
    for at, before, after in stage_moves:
        steps = _stage_steps(before, after)
        if steps:
            pts = steps * rules.stage_forward if steps > 0 else -steps * rules.stage_back
            add("stage", pts, at, f"销售阶段{'推进' if steps > 0 else '后退'}({before}→{after})",
                f"sales stage {'forward' if steps > 0 else 'back'} ({before}→{after})")
    total = sum(p for _, p, _, _ in items)
    score = max(0, min(100, round(100 * total / rules.cap)))
    by_key: dict[str, list] = {}
    for key, pts, zh, en in items:
        acc = by_key.setdefault(key, [0.0, zh, en, 0])
        acc[0] += pts
        acc[3] += 1
    ranked = sorted(by_key.items(), key=lambda kv: -abs(kv[1][0]))[:top]
    factors = [_factor("behaviour", k, v[0], f"{v[1]} ×{v[3]}({v[0]:+.1f})", f"{v[2]} ×{v[3]} ({v[0]:+.1f})")
               for k, v in ranked]
    return round(total, 2), score, factors
