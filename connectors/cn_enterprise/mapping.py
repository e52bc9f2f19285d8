"""The one place that turns a Chinese provider's enterprise record into ``schemas.company.Company``.

Providers (企查查, 天眼查, 启信宝, …) publish the same 工商 facts under different keys and envelopes.
A :class:`FieldMap` names where each fact sits in one provider's JSON; :func:`to_company` and
:func:`cn_status` do the rest, so a new provider needs no parsing code of its own.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.company_records import dig, iso_date, text, valid_ids
from schemas.company import Company, CompanyStatus

Paths = tuple[str, ...]
"""Candidate dotted paths for one field; the first non-empty value wins."""


@dataclass(frozen=True)
class FieldMap:
    """Where one provider keeps each fact.

    Attributes:
        envelope_status: Path of the provider's own result code in the body.
        ok_codes: Codes meaning "here is data".
        not_found_codes: Codes meaning "no such company" (an answer, not an error).
        record: Path of the single record of a look-up.
        results: Path of the list of a name search.
        found_flag: Path of a 1/0 "exists" flag on a look-up, if the provider has one.
        source_id … established_on: Candidate paths inside one record.
    """

    envelope_status: str
    ok_codes: frozenset[str]
    not_found_codes: frozenset[str]
    record: str
    results: str
    found_flag: str | None
    source_id: Paths
    name: Paths
    uscc: Paths
    legal_representative: Paths
    status: Paths
    registered_capital: Paths
    industry: Paths
    address: Paths
    established_on: Paths


# Registration-status wording of the national enterprise credit information publicity system
# (国家企业信用信息公示系统), as providers pass it on: "存续（在营、开业、在册）", "在业" (天眼查), "注销", "吊销，未注销",
# "吊销，已注销", "撤销", "迁出", "停业", "清算". Checked in this order: "吊销，已注销" is gone for good
# (dissolved), "吊销，未注销" is revoked.
_DISSOLVED_FIRST = ("已注销",)
_REVOKED = ("吊销",)
_DISSOLVED = ("注销", "撤销")
_ACTIVE = ("存续", "在营", "在业", "开业", "在册", "正常")
_INACTIVE = ("迁出", "停业", "歇业", "清算")


def cn_status(value: str | None) -> CompanyStatus:
    """Normalise a Chinese registration status (登记状态).

    Args:
        value: The provider's status text.

    Returns:
        dissolved (注销/撤销, or 吊销 then 注销), revoked (吊销), active (存续/在营/开业/在册), inactive
        (迁出/停业/清算), or unknown.
    """
    if not value:
        return CompanyStatus.UNKNOWN
    for words, status in ((_DISSOLVED_FIRST, CompanyStatus.DISSOLVED), (_REVOKED, CompanyStatus.REVOKED),
                          (_DISSOLVED, CompanyStatus.DISSOLVED), (_ACTIVE, CompanyStatus.ACTIVE),
                          (_INACTIVE, CompanyStatus.INACTIVE)):
        if any(w in value for w in words):
            return status
    return CompanyStatus.UNKNOWN


def first(record: Any, paths: Paths) -> str | None:
    """The first non-empty text among ``paths`` in ``record``."""
    for path in paths:
        value = text(dig(record, path))
        if value:
            return value
    return None


def to_company(record: Mapping[str, Any], fields: FieldMap, source: str) -> Company:
    """Build the normalised record.

    Args:
        record: One enterprise record as the provider publishes it.
        fields: The provider's field map.
        source: The connector name.

    Returns:
        The ``Company``; ``source_id`` is the provider's key, falling back to the USCC.

    Raises:
        pydantic.ValidationError: A required fact (key, name) is missing.
    """
    uscc = first(record, fields.uscc)
    status_text = first(record, fields.status)
    return Company(
        source=source,
        source_id=first(record, fields.source_id) or uscc or "",
        name=first(record, fields.name) or "",
        registry_ids=valid_ids([("uscc", uscc)]),
        status=cn_status(status_text),
        status_text=status_text,
        legal_representative=first(record, fields.legal_representative),
        registered_capital=first(record, fields.registered_capital),
        industry=first(record, fields.industry),
        address=first(record, fields.address),
        country="CN",
        established_on=iso_date(first(record, fields.established_on)),
    )
