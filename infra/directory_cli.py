"""``dealreg teams|users|partners …``: the directory's admin operations (chalicelib.store.directory).

Creating never overwrites: an existing id answers exit 2 with a message (no traceback), as does an unknown
one for update/deactivate/rotate. Secrets and keys are printed once, on stdout, as JSON.
"""
from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any


def _slug(name: str) -> str:
    base = "".join(c if c.isascii() and c.isalnum() else "-" for c in name.lower()).strip("-")
    return (base[:24] or "p") + "-" + secrets.token_hex(3)


def _out(value: Any) -> int:
    print(json.dumps(value, ensure_ascii=False, indent=2))
    return 0


def _no_team(team: str) -> int:
    print(f"no team {team!r}; create it with: dealreg teams create NAME --id {team}", file=sys.stderr)
    return 2


# --- teams ---------------------------------------------------------------------------------------------------

def teams_create(args, d, now) -> int:
    team_id = args.id or _slug(args.name)
    d.create_team(team_id, args.name, now=now(), territory=args.territory)
    print(json.dumps({"id": team_id}))
    return 0


def teams_update(args, d, now) -> int:
    team = d.update_team(args.id, name=args.name, territory=args.territory)
    return _out({"id": args.id, "updated": bool(args.name or args.territory is not None),
                 "name": args.name or team.name})


def teams_add_manager(args, d, now) -> int:
    team = d.add_team_manager(args.id, args.user)
    return _out({"id": args.id, "manager_ids": list(team.manager_ids or [])})


def teams_remove_manager(args, d, now) -> int:
    team = d.remove_team_manager(args.id, args.user)
    return _out({"id": args.id, "manager_ids": list(team.manager_ids or [])})


def teams_list(args, d, now) -> int:
    return _out(d.list_teams())


# --- users ---------------------------------------------------------------------------------------------------

def users_create(args, d, now) -> int:
    from chalicelib.domain.access import Role

    user_id = args.id or _slug(args.name)
    if args.team and d.get_team(args.team) is None:
        return _no_team(args.team)
    key = d.create_user(user_id, args.name, Role(args.role), now=now(), team_id=args.team, email=args.email,
                        manager_id=args.manager)
    _out({"id": user_id, "role": args.role, "api_key": key})
    print("Store the key now: it is not shown again.", file=sys.stderr)
    return 0


def users_deactivate(args, d, now) -> int:
    d.deactivate_user(args.id)
    return _out({"id": args.id, "active": False})


def users_rotate_key(args, d, now) -> int:
    key = d.rotate_user_key(args.id, now=now())
    _out({"id": args.id, "api_key": key})
    print("Every previous key of this user is revoked. Store the new key now: it is not shown again.",
          file=sys.stderr)
    return 0


def users_list(args, d, now) -> int:
    return _out(d.list_users(args.team))


# --- partners ------------------------------------------------------------------------------------------------

def partners_create(args, d, now) -> int:
    partner_id = args.id or _slug(args.name)
    if args.team and d.get_team(args.team) is None:
        return _no_team(args.team)
    if args.callback_url:  # checked as `notifications set --callback-url` checks it (https, SSRF guard)
        from chalicelib import settings
        from chalicelib.services.notification_channels import check_channel_url
        from connectors.errors import ConnectorError

        try:
            check_channel_url("webhook", args.callback_url, local=settings.get().local, resolve=True)
        except ConnectorError as exc:
            print(f"refused: webhook URL ({exc.reason})", file=sys.stderr)
            return 2
    secret, key = d.create_partner(partner_id, args.name, now=now(), tier=args.tier,
                                   callback_url=args.callback_url, team_id=args.team)
    _out({"id": partner_id, "webhook_secret": secret, "api_key": key})
    print("Store the secret and key now: they are not shown again.", file=sys.stderr)
    return 0


def partners_rotate_secret(args, d, now) -> int:
    t = now()
    grace = timedelta(hours=args.grace_hours)
    fresh = d.rotate_partner_secret(args.id, keep_previous=args.grace_hours > 0, grace=grace, now=t)
    _out({"id": args.id, "webhook_secret": fresh,
          "previous_valid_until": (t + grace).isoformat() if args.grace_hours > 0 else None})
    print("Both secrets are accepted until then; the partner signs with the new one (several signatures "
          "per header are allowed).", file=sys.stderr)
    return 0


def partners_deactivate(args, d, now) -> int:
    d.deactivate_partner(args.id)
    return _out({"id": args.id, "active": False})


def partners_list(args, d, now) -> int:
    return _out(d.list_partners())


# --- parsers -------------------------------------------------------------------------------------------------

def add_parsers(sub: Any, storage: Callable[[argparse.Namespace], None], now: Any,
                storage_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``teams``, ``users`` and ``partners`` with their sub-commands to the ``dealreg`` parser."""

    def bind(p: argparse.ArgumentParser, func: Callable[..., int]) -> None:
        storage_flags(p)

        def run(args: argparse.Namespace) -> int:
            storage(args)
            from chalicelib.store import directory

            try:
                return func(args, directory, now)
            except directory.DirectoryError as exc:
                print(f"{exc.code}: {exc}", file=sys.stderr)
                return 2

        p.set_defaults(func=run)

    teams = sub.add_parser("teams", help="teams/territories and their managers").add_subparsers(
        dest="action", required=True)
    p = teams.add_parser("create", help="create a team (an existing id is refused)")
    p.add_argument("name")
    p.add_argument("--id")
    p.add_argument("--territory")
    bind(p, teams_create)
    p = teams.add_parser("update", help="rename a team or change its territory")
    p.add_argument("id")
    p.add_argument("--name")
    p.add_argument("--territory")
    bind(p, teams_update)
    p = teams.add_parser("add-manager", help="make a user a manager of the team")
    p.add_argument("id")
    p.add_argument("user")
    bind(p, teams_add_manager)
    p = teams.add_parser("remove-manager", help="a user no longer manages the team")
    p.add_argument("id")
    p.add_argument("user")
    bind(p, teams_remove_manager)
    bind(teams.add_parser("list", help="every team with its managers (JSON)"), teams_list)

    users = sub.add_parser("users", help="reps, managers and admins").add_subparsers(dest="action", required=True)
    p = users.add_parser("create", help="create a rep, manager or admin; prints the API key once")
    p.add_argument("name")
    p.add_argument("--role", choices=["rep", "manager", "admin"], required=True)
    p.add_argument("--id")
    p.add_argument("--team")
    p.add_argument("--email")
    p.add_argument("--manager")
    bind(p, users_create)
    p = users.add_parser("deactivate", help="the user's API keys stop working at once")
    p.add_argument("id")
    bind(p, users_deactivate)
    p = users.add_parser("rotate-key", help="revoke the user's keys and print a new one once")
    p.add_argument("id")
    bind(p, users_rotate_key)
    p = users.add_parser("list", help="every user (JSON); --team to filter")
    p.add_argument("--team")
    bind(p, users_list)

    partners = sub.add_parser("partners", help="partner systems").add_subparsers(dest="action", required=True)
    p = partners.add_parser("create", help="create a partner; prints its id, whsec_ secret and API key once")
    p.add_argument("name")
    p.add_argument("--id")
    p.add_argument("--tier", default="registered")
    p.add_argument("--callback-url")
    p.add_argument("--team", help="its channel team: that team's managers review its registrations")
    bind(p, partners_create)
    p = partners.add_parser("rotate-secret", help="new signing secret; the old one works for --grace-hours more")
    p.add_argument("id")
    p.add_argument("--grace-hours", type=float, default=168.0,
                   help="how long the previous secret stays valid (default 168 = 7 days; 0 = drop it now)")
    bind(p, partners_rotate_secret)
    p = partners.add_parser("deactivate", help="refuse the partner's webhooks and API key from now on")
    p.add_argument("id")
    bind(p, partners_deactivate)
    bind(partners.add_parser("list", help="every partner (JSON; secrets never shown)"), partners_list)
