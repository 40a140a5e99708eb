"""`python -m app partners add|rotate|revoke|usage|list` (docs/partners.md).

A new key is printed once, on its own line, and never stored in clear: keep it then."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

from app import command_runner
from models.partners import Partner, PartnerKey
from services.errors import DomainError
from services.partners import keys, usage
from services.platform import clock


def add_arguments(commands: Any) -> None:
    partners = commands.add_parser("partners", help="add, rotate, revoke partners' keys; usage")
    actions = partners.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="a new partner and its first key (shown once)")
    add.add_argument("code", help="2-32 lowercase letters, digits or '-'")
    add.add_argument("--name", required=True)
    add.add_argument(
        "--sets",
        default="public,partner",
        help="operation sets (persisted/<set>/), comma-separated",
    )
    add.add_argument("--rate", type=int, default=60, help="requests a minute")
    add.add_argument("--quota", type=int, default=10_000, help="requests a business day")
    rotate = actions.add_parser("rotate", help="a new key; older keys end after the overlap")
    rotate.add_argument("code")
    rotate.add_argument("--overlap-hours", type=float, default=24.0)
    revoke = actions.add_parser("revoke", help="end one key now, or the partner and every key")
    revoke.add_argument("code")
    revoke.add_argument("--key", default=None, help="the key id (lbp_<key id>_...)")
    used = actions.add_parser("usage", help="requests per business day, operation and outcome")
    used.add_argument("code")
    used.add_argument("--days", type=int, default=7)
    actions.add_parser("list", help="partners, their sets, limits and live keys")


async def _add(args: argparse.Namespace) -> str:
    issued = await keys.add_partner(
        code=args.code,
        name=args.name,
        sets=[name.strip() for name in args.sets.split(",") if name.strip()],
        rate_per_minute=args.rate,
        daily_quota=args.quota,
    )
    return (
        f"partner {issued.partner.code} added (key id {issued.key_id}); its key, shown once:\n"
        f"{issued.key}"
    )


async def _rotate(args: argparse.Namespace) -> str:
    issued = await keys.rotate(args.code, overlap=timedelta(hours=args.overlap_hours))
    ends = f"{issued.old_key_expires_at:%Y-%m-%d %H:%M:%S} UTC"
    said = f"new key id {issued.key_id}; older keys work until {ends}"
    return f"{said}; the new key, shown once:\n{issued.key}"


async def _revoke(args: argparse.Namespace) -> str:
    ended = await keys.revoke(args.code, args.key)
    what = f"key {args.key}" if args.key else f"partner {args.code} and its keys"
    return f"revoked {what}: {', '.join(ended) or 'no live key'}"


async def _usage(args: argparse.Namespace) -> str:
    partner = await Partner.get_or_none(code=args.code)
    if partner is None:
        raise DomainError(f"No partner {args.code}", code="NOT_FOUND")
    until: date = await clock.today()
    rows = await usage.usage(partner.id, until - timedelta(days=max(1, args.days) - 1), until)
    lines = [f"{'day':<10}  {'operation':<32}  {'outcome':<28}  count"]
    lines += [f"{r.day}  {r.operation:<32}  {r.outcome:<28}  {r.count}" for r in rows]
    return "\n".join(lines)


async def _list(args: argparse.Namespace) -> str:
    lines = []
    for partner in await Partner.all().order_by("code"):
        live = await PartnerKey.filter(partner=partner, revoked_at=None).order_by("id")
        key_text = ", ".join(
            key.key_id + (f" (until {key.expires_at:%Y-%m-%d %H:%M} UTC)" if key.expires_at else "")
            for key in live
        )
        sets = ",".join(partner.operation_sets)
        lines.append(
            f"{partner.code} [{partner.status}] {partner.name}: sets {sets};"
            f" {partner.rate_per_minute}/min, {partner.daily_quota}/day; keys: {key_text or '-'}"
        )
    return "\n".join(lines) or "no partners"


_ACTIONS: dict[str, Callable[[argparse.Namespace], Awaitable[str]]] = {
    "add": _add,
    "rotate": _rotate,
    "revoke": _revoke,
    "usage": _usage,
    "list": _list,
}


def main(args: argparse.Namespace) -> int:
    return command_runner.run(
        f"partners {args.action}", lambda: _ACTIONS[args.action](args), broker=True
    )
