"""The command line of the drill: its arguments, bad input (one line, exit status 2)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import NoReturn

from app.backup_check.drill import run_drill, sqlite_file
from simulation import scratch

BAD_INPUT = 2
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"backup-check: {message}\n")
        sys.exit(BAD_INPUT)


def parser() -> argparse.ArgumentParser:
    found = _Parser(
        prog="python -m app backup-check",
        description="back up, destroy and restore a seeded scratch platform, check it, time it",
    )
    found.add_argument("--sqlite", action="store_true", help="the embedded SQLite default")
    found.add_argument(
        "--tamper", action="store_true", help="then corrupt the restore and show it is caught"
    )
    found.add_argument(
        "--no-base-backup", action="store_true", help="do not try pg_basebackup (PostgreSQL)"
    )
    found.add_argument(
        "--template",
        metavar="DATABASE_URL",
        help="start from a copy of this migrated database of the same backend instead of"
        " migrating (the tests: their run's database); it is only read",
    )
    return found


def _template_fits(url: str, *, postgres: bool) -> bool:
    if postgres:
        return scratch.postgres_server(url) is not None
    return url.startswith("sqlite://") and sqlite_file(url).is_file()


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    server = None
    if not args.sqlite:
        server = os.environ.get("BACKUP_POSTGRES_URL", DEFAULT_POSTGRES).rstrip("/")
        if scratch.postgres_server(server + "/x") is None:
            sys.stderr.write("backup-check: BACKUP_POSTGRES_URL is not a PostgreSQL URL\n")
            return BAD_INPUT
    if args.template is not None and not _template_fits(args.template, postgres=not args.sqlite):
        sys.stderr.write(
            "backup-check: --template must name an existing database of the drill's backend"
            " (a postgres:// URL, or with --sqlite a sqlite:// file)\n"
        )
        return BAD_INPUT
    from services.backup.dumps import BackupError

    try:
        summary = asyncio.run(
            run_drill(
                postgres_server=server,
                tamper=args.tamper,
                base_backup=not args.no_base_backup,
                template=args.template,
            )
        )
    except BackupError as error:
        sys.stderr.write(f"backup-check: {error.code}: {error.message}\n")
        return 1
    sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")
    return 0 if summary["ok"] else 1
