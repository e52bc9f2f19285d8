"""Sales stages (销售阶段) of the pipeline and the audited stage move. Pure.

Stages are the registration's ``sales_stage`` values; their display names, order, win probability and
optional checklist (标准化阶段任务) are configurable (``DEALREG_PIPELINE_STAGES``), with the defaults below.
A move is allowed on an approved registration, to another configured stage, by its owner, a manager of
its team or an admin; it is one ``stage_changed`` audit line (announced as ``registration.stage_changed``).
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from chalicelib.domain.errors import DealregError
from schemas.common import Actor
from schemas.pipeline import PipelineRules, Stage
from schemas.registration import AuditEntry, Registration, RegistrationStatus, SalesStage


def rules_from(raw: str) -> PipelineRules:
    """The configured stages (a JSON object), or the defaults for ""."""
    return PipelineRules.model_validate_json(raw) if raw.strip() else DEFAULT


DEFAULT = PipelineRules(stages=(
    Stage(key=SalesStage.LEAD, name_zh="线索", name_en="Lead", probability=Decimal("0.05")),
    Stage(key=SalesStage.QUALIFICATION, name_zh="验证客户", name_en="Qualification", probability=Decimal("0.1"),
          checklist=("确认预算 / budget confirmed", "确认决策人 / decision maker known")),
    Stage(key=SalesStage.NEEDS_ANALYSIS, name_zh="需求确定", name_en="Needs analysis", probability=Decimal("0.3")),
    Stage(key=SalesStage.PROPOSAL, name_zh="方案报价", name_en="Proposal", probability=Decimal("0.6"),
          checklist=("提交方案 / proposal sent",)),
    Stage(key=SalesStage.NEGOTIATION, name_zh="谈判审核", name_en="Negotiation", probability=Decimal("0.8")),
))


STAGE_CHANGED = "stage_changed"


class StageMoveError(DealregError):
    status = 409
    code = "illegal_stage_move"


class StageForbiddenError(StageMoveError):
    status = 403
    code = "forbidden"


def move_line(reg: Registration, to: SalesStage, *, actor: Actor, may_move: bool, rules: PipelineRules,
              now: datetime, reason: str | None = None) -> AuditEntry:
    """The audit line of moving ``reg`` to stage ``to``; refuses what the rules do not allow."""
    if not may_move:
        raise StageForbiddenError("only the owner, a manager of the team or an admin may move the stage")
    if reg.status is not RegistrationStatus.APPROVED:
        raise StageMoveError(f"only an approved registration moves through the pipeline (it is {reg.status.value})")
    if rules.stage(to) is None:
        raise StageMoveError(f"stage {to.value} is not configured")
    if reg.sales_stage == to:
        raise StageMoveError(f"the registration is already at {to.value}")
    text = f"{reg.sales_stage.value} -> {to.value}" + (f": {reason}" if reason else "")
    from chalicelib.domain.workflow import next_seq

    return AuditEntry(seq=next_seq(reg.audit), at=now, actor=actor, action=STAGE_CHANGED, reason=text)
