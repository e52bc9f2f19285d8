"""Partners, users, teams and API keys; partner signing secrets in Secrets Manager."""
from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime

from pynamodb.exceptions import PutError

from chalicelib import settings as settings_mod
from chalicelib.domain.access import Principal, Role
from chalicelib.store import aws
from chalicelib.store.models import ApiKeyItem, PartnerItem, TeamItem, UserItem
from schemas.common import PrincipalKind


def hash_api_key(key: str) -> str:
    # API keys are 32 random bytes, so a plain SHA-256 is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    return "drk_" + secrets.token_urlsafe(32)


def principal_for_key(key: str) -> Principal | None:
    """The caller behind a bearer API key, or None for an unknown, revoked or inactive one."""
    try:
        rec = ApiKeyItem.get(f"apikey#{hash_api_key(key)}")
    except ApiKeyItem.DoesNotExist:
        return None
    if rec.revoked != "no":
        return None
    if rec.expires_at is not None:
        from chalicelib import clock

        if rec.expires_at <= clock.now():
            return None
    if rec.principal_kind == PrincipalKind.PARTNER:
        partner = get_partner(rec.principal_id)
        if partner is None or partner.active != "yes":
            return None
        return Principal(kind=PrincipalKind.PARTNER, id=rec.principal_id, role=Role.PARTNER)
    try:
        user = UserItem.get(f"user#{rec.principal_id}")
    except UserItem.DoesNotExist:
        return None
    if user.active != "yes":
        return None
    managed: frozenset[str] = frozenset()
    if user.role == Role.MANAGER and user.team_id:
        # A manager manages the team they belong to when listed among its managers.
        team = get_team(user.team_id)
        if team is not None and rec.principal_id in (team.manager_ids or []):
            managed = frozenset({user.team_id})
    return Principal(kind=PrincipalKind.USER, id=rec.principal_id, role=Role(user.role), team_id=user.team_id,
                     managed_team_ids=managed)


def get_partner(partner_id: str) -> PartnerItem | None:
    try:
        return PartnerItem.get(f"partner#{partner_id}")
    except PartnerItem.DoesNotExist:
        return None


def get_team(team_id: str) -> TeamItem | None:
    try:
        return TeamItem.get(f"team#{team_id}")
    except TeamItem.DoesNotExist:
        return None


def get_user(user_id: str) -> UserItem | None:
    try:
        return UserItem.get(f"user#{user_id}")
    except UserItem.DoesNotExist:
        return None


def _issue_key(kind: PrincipalKind, principal_id: str, now: datetime) -> str:
    key = new_api_key()
    ApiKeyItem(f"apikey#{hash_api_key(key)}", principal_kind=kind.value, principal_id=principal_id,
               created_at=now).save(condition=ApiKeyItem.pk.does_not_exist())
    return key


def create_partner(partner_id: str, name: str, *, now: datetime, tier: str = "registered",
                   callback_url: str | None = None, secret: str | None = None,
                   team_id: str | None = None) -> tuple[str, str]:
    """Create a partner with a signing secret and an API key. Returns ``(whsec_ secret, api key)``, shown once.

    ``team_id`` is its channel team: that team's managers review its registrations.
    Raises ``PutError`` if the partner id is taken.
    """
    from connectors.standard_webhooks import generate_secret

    PartnerItem(f"partner#{partner_id}", name=name, tier=tier, callback_url=callback_url, team_id=team_id,
                created_at=now).save(condition=PartnerItem.pk.does_not_exist())
    signing = secret or generate_secret()
    aws.client("secretsmanager").create_secret(
        Name=settings_mod.get().partner_secret_name(partner_id),
        SecretString=json.dumps({"secrets": [signing]}),
    )
    return signing, _issue_key(PrincipalKind.PARTNER, partner_id, now)


def create_team(team_id: str, name: str, *, now: datetime, manager_ids: list[str] | None = None) -> None:
    TeamItem(f"team#{team_id}", name=name, manager_ids=manager_ids or [], created_at=now).save()


def create_user(user_id: str, name: str, role: Role, *, now: datetime, team_id: str | None = None,
                email: str | None = None, manager_id: str | None = None) -> str:
    """Create a user and return their API key (shown once). Managers are added to their team's managers."""
    UserItem(f"user#{user_id}", name=name, role=role.value, team_id=team_id, email=email, manager_id=manager_id,
             created_at=now).save(condition=UserItem.pk.does_not_exist())
    if role is Role.MANAGER and team_id:
        TeamItem(f"team#{team_id}").update(actions=[TeamItem.manager_ids.set(
            TeamItem.manager_ids.append([user_id]))])
    return _issue_key(PrincipalKind.USER, user_id, now)


def issue_session_key(principal: Principal, *, now: datetime, expires_at: datetime) -> str:
    """A short-lived key for ``principal`` (a console session): the same kind of record as an API key, so
    every request made with it resolves through :func:`principal_for_key` like any API call."""
    key = "drs_" + secrets.token_urlsafe(32)
    ApiKeyItem(f"apikey#{hash_api_key(key)}", principal_kind=principal.kind.value, principal_id=principal.id,
               created_at=now, expires_at=expires_at).save(condition=ApiKeyItem.pk.does_not_exist())
    return key


def revoke_key(key: str) -> None:
    """Revoke an API or session key (idempotent; an unknown key is left alone)."""
    from pynamodb.exceptions import UpdateError

    try:
        ApiKeyItem(f"apikey#{hash_api_key(key)}").update(actions=[ApiKeyItem.revoked.set("yes")],
                                                          condition=ApiKeyItem.pk.exists())
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise


def partner_secrets(partner_id: str) -> list[str] | None:
    """A partner's signing secrets, or None for an unknown partner (cached: ``aws.secret_json``)."""
    value = aws.secret_json(settings_mod.get().partner_secret_name(partner_id))
    return list(value.get("secrets", [])) if isinstance(value, dict) else None


def rotate_partner_secret(partner_id: str, *, keep_previous: bool = True) -> str:
    """Add a new signing secret; the previous one keeps working until removed, so partners can switch."""
    from connectors.standard_webhooks import generate_secret

    sm = aws.client("secretsmanager")
    name = settings_mod.get().partner_secret_name(partner_id)
    current = json.loads(sm.get_secret_value(SecretId=name)["SecretString"]).get("secrets", [])
    fresh = generate_secret()
    sm.put_secret_value(SecretId=name, SecretString=json.dumps(
        {"secrets": [fresh, *(current[:1] if keep_previous else [])]}))
    aws.forget_secrets()
    return fresh


__all__ = ["PutError", "partner_secrets", "principal_for_key", "create_partner", "create_user", "create_team"]
