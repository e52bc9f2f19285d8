"""``dealreg teams|users|partners …``: the directory's admin operations (chalicelib.store.directory).

Creating never overwrites: an existing id answers exit 2 with a message (no traceback), as does an unknown
one for update/deactivate/rotate. Secrets and keys are printed once, on stdout, as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any


def _out(value: Any) -> int:
    print(json.dumps(value, ensure_ascii=False, indent=2))
    return 0


def _no_team(team: str) -> int:
    print(f"no team {team!r}; create it with: dealreg teams create NAME --id {team}", file=sys.stderr)
    return 2


# Creating, deactivating and rotating go through chalicelib.services.directory (the admin API's code): the same
# checks, conditional writes and audit entries (actor system:cli), team updates and manager changes too.

def teams_create(args, d, now) -> int:
    from schemas.admin import TeamCreate

    out = _svc().create_team(_svc().CLI_ACTOR, TeamCreate(id=args.id, name=args.name, territory=args.territory),
                             now=now())
    print(json.dumps({"id": out["id"]}))
    return 0


def _team_update(args, now, **fields) -> int:
    from schemas.admin import TeamUpdate

    out = _svc().update_team(_svc().CLI_ACTOR, args.id, TeamUpdate(**fields), now=now())
    return _out(out)


def teams_update(args, d, now) -> int:
    if not args.name and args.territory is None:
        print("nothing to change: give --name and/or --territory", file=sys.stderr)
        return 2
    return _team_update(args, now, name=args.name, territory=args.territory)


def teams_add_manager(args, d, now) -> int:
    return _team_update(args, now, add_manager=args.user)


def teams_remove_manager(args, d, now) -> int:
    return _team_update(args, now, remove_manager=args.user)


def teams_list(args, d, now) -> int:
    return _out(d.list_teams())


def _set_active(kind: str, active: bool):
    """``dealreg teams|users|partners deactivate|reactivate ID``: one conditional, audited write through the
    directory service (as the admin API does)."""
    def run(args, d, now) -> int:
        out = _svc().set_active(_svc().CLI_ACTOR, kind, args.id, active, now=now())
        return _out({"id": args.id, "active": out["active"]})

    return run


def _svc():
    from chalicelib.services import directory

    return directory


# --- users ---------------------------------------------------------------------------------------------------

def users_create(args, d, now) -> int:
    from schemas.admin import UserCreate

    if args.team and d.get_team(args.team) is None:
        return _no_team(args.team)
    out = _svc().create_user(_svc().CLI_ACTOR, UserCreate(
        id=args.id, name=args.name, role=args.role, team_id=args.team, email=args.email, manager_id=args.manager,
        partner_id=args.partner), now=now())
    if "login_code_expires_at" in out:
        out["login_code_expires_at"] = out["login_code_expires_at"].isoformat()
    _out({k: out[k] for k in ("id", "role", "api_key", "login_code", "login_code_expires_at") if k in out})
    print("Store the key (or login code) now: it is not shown again.", file=sys.stderr)
    return 0


def users_rotate_key(args, d, now) -> int:
    out = _svc().rotate_user_key(_svc().CLI_ACTOR, args.id, now=now())
    _out({"id": args.id, "api_key": out["api_key"]})
    print("Every previous key of this user is revoked. Store the new key now: it is not shown again.",
          file=sys.stderr)
    return 0


def users_login_code(args, d, now) -> int:
    out = _svc().issue_login_code(_svc().CLI_ACTOR, args.id, now=now())
    return _out({"id": args.id, "login_code": out["login_code"], "expires_at": out["expires_at"].isoformat()})


def users_list(args, d, now) -> int:
    return _out(d.list_users(args.team))


# --- partners ------------------------------------------------------------------------------------------------

def partners_create(args, d, now) -> int:
    from schemas.admin import PartnerCreate

    if args.team and d.get_team(args.team) is None:
        return _no_team(args.team)
    out = _svc().create_partner(_svc().CLI_ACTOR, PartnerCreate(
        id=args.id, name=args.name, tier=args.tier, callback_url=args.callback_url, team_id=args.team), now=now())
    _out({"id": out["id"], "webhook_secret": out["webhook_secret"], "api_key": out["api_key"]})
    print("Store the secret and key now: they are not shown again.", file=sys.stderr)
    return 0


def partners_rotate_secret(args, d, now) -> int:
    if not 0 <= args.grace_hours <= 720:
        print("--grace-hours must be 0..720", file=sys.stderr)
        return 2
    out = _svc().rotate_partner_secret(_svc().CLI_ACTOR, args.id, grace_hours=args.grace_hours, now=now())
    until = out["previous_valid_until"]
    _out({"id": args.id, "webhook_secret": out["webhook_secret"],
          "previous_valid_until": until.isoformat() if until else None})
    print("Both secrets are accepted until then; the partner signs with the new one (several signatures "
          "per header are allowed).", file=sys.stderr)
    return 0


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
            from pydantic import ValidationError

            from chalicelib.domain.errors import DealregError
            from chalicelib.store import directory

            try:
                return func(args, directory, now)
            except DealregError as exc:
                where = ", ".join(f"{e['loc']}: {e['type']}" for e in exc.errors)
                print(f"{exc.code}: {exc}" + (f" ({where})" if where else ""), file=sys.stderr)
                return 2
            except ValidationError as exc:
                print("refused: " + "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}"
                                              for e in exc.errors(include_url=False)), file=sys.stderr)
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
    p = teams.add_parser("deactivate", help="no new members, holdings or reviews for the team; members keep theirs")
    p.add_argument("id")
    bind(p, _set_active("team", False))
    p = teams.add_parser("reactivate", help="the team takes members, holdings and reviews again")
    p.add_argument("id")
    bind(p, _set_active("team", True))
    bind(teams.add_parser("list", help="every team with its managers (JSON)"), teams_list)

    users = sub.add_parser("users", help="reps, managers and admins").add_subparsers(dest="action", required=True)
    p = users.add_parser("create", help="create a rep, manager or admin (prints the API key once) or a partner user "
                                        "(--role partner --partner ID: prints a one-time login code)")
    p.add_argument("name")
    p.add_argument("--role", choices=["rep", "manager", "admin", "partner"], required=True)
    p.add_argument("--partner", help="a partner user's partner")
    p.add_argument("--id")
    p.add_argument("--team")
    p.add_argument("--email")
    p.add_argument("--manager")
    bind(p, users_create)
    p = users.add_parser("deactivate", help="the user's API keys stop working at once")
    p.add_argument("id")
    bind(p, _set_active("user", False))
    p = users.add_parser("reactivate", help="the user's key works again (console sessions from before do not)")
    p.add_argument("id")
    bind(p, _set_active("user", True))
    p = users.add_parser("rotate-key", help="revoke the user's keys and print a new one once")
    p.add_argument("id")
    bind(p, users_rotate_key)
    p = users.add_parser("login-code", help="a partner user's one-time code to set a console password")
    p.add_argument("id")
    bind(p, users_login_code)
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
    bind(p, _set_active("partner", False))
    p = partners.add_parser("reactivate", help="accept the partner's webhooks and API key again")
    p.add_argument("id")
    bind(p, _set_active("partner", True))
    bind(partners.add_parser("list", help="every partner (JSON; secrets never shown)"), partners_list)
