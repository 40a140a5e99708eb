"""Command line: `python -m app serve | migrate | worker | seed-demo | rotate-pii |
export-schema | sandbox | simulate | backup-check | persisted | partners | dev`."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path

from services.kit.settings import ROOT, get_settings


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite://") and ":memory:" not in url:
        Path(url.removeprefix("sqlite://")).parent.mkdir(parents=True, exist_ok=True)


async def migrate(database_url: str | None = None) -> None:
    """Apply every migration in migrations/ to the configured database."""
    from tortoise import Tortoise
    from tortoise.migrations.api.migrate import migrate as run_migrations

    from services.kit.db import tortoise_config

    url = database_url or get_settings().database_url
    _ensure_sqlite_dir(url)
    try:
        await run_migrations(config=tortoise_config(url))
        print(f"migrated {url.split('@')[-1]}")
    finally:
        await Tortoise.close_connections()


async def seed_demo() -> None:
    """Create the missing demo data (never in prod). The platform runs meanwhile as
    `serve` runs it, without the jobs: the lending demo moves money through the embedded
    sandbox provider, which lives in the app's lifespan (its books persist in
    SANDBOX_DATABASE for the server that starts next)."""
    from app import create_app
    from services.demo import seed_demo_data

    settings = get_settings()
    if settings.is_prod:
        raise SystemExit("seed-demo: refused, demo data is never created with APP_ENV=prod")
    application = create_app(settings.model_copy(update={"jobs_embedded": False}))
    async with application.router.lifespan_context(application):
        embedded = application.state.sandbox
        for line in await seed_demo_data(embedded.sandbox if embedded is not None else None):
            print(line)


async def rotate_pii(batch_size: int | None = None) -> None:
    """Re-encrypt stored personal data under PII_KEY_ID (see services/pii_rotation.py)."""
    from tortoise import Tortoise

    from services.kit.db import tortoise_config
    from services.kit.security import pii_keys
    from services.pii_rotation import DEFAULT_BATCH_SIZE, rotate_all

    await Tortoise.init(config=tortoise_config())
    try:
        counts = await rotate_all(batch_size=batch_size or DEFAULT_BATCH_SIZE)
    finally:
        await Tortoise.close_connections()
    for done in counts:
        print(
            f"{done.table}.{done.column}: {done.rotated} re-encrypted "
            f"({done.values} values in {done.rows} rows)"
        )
    total = sum(done.rotated for done in counts)
    print(f"{total} values re-encrypted; every stored value is now under {pii_keys().current_id}")


def export_schema(output: str | None) -> None:
    from schema.build import export_sdl

    sdl = export_sdl()
    if output:
        Path(output).write_text(sdl, encoding="utf-8")
        print(f"wrote {output}")
    else:
        sys.stdout.write(sdl)


async def worker() -> None:
    """Jobs and the dispatchers without an HTTP server: the outbox (SMS, e-mail, events,
    contracts' PDFs), the operation-log sealer and, with PROVIDER_URL, the payment
    instructions; woken by the API processes through the broker. API processes then run
    with JOBS_EMBEDDED=false and DISPATCH_IN_API=false. Any number may run: every
    dispatcher claims its rows with FOR UPDATE SKIP LOCKED, and see services/jobs."""
    import signal

    from tortoise import Tortoise

    from services import jobs
    from services.kit import wakeups
    from services.kit.broker import make_broker, set_broker
    from services.kit.db import tortoise_config
    from services.kit.logs import configure_logging
    from services.money import ledger
    from services.payments import instructions
    from services.payments.gateway import set_provider
    from services.payments.http_provider import HttpPaymentProvider
    from services.platform import notifier, oplog, outbox

    settings = get_settings()
    configure_logging(settings)
    await Tortoise.init(config=tortoise_config(), _enable_global_fallback=True)
    broker = make_broker(settings)
    await broker.start()
    set_broker(broker)
    await ledger.ensure_platform_accounts()  # as the API's lifespan does
    # The daily reconciliation asks the provider: reachable over HTTP only (an embedded
    # sandbox lives inside an API process, which then runs the jobs itself).
    provider = (
        HttpPaymentProvider(base_url=settings.provider_url, settings=settings)
        if settings.provider_url
        else None
    )
    set_provider(provider)
    # The outbox dispatcher sends SMS: through the gateway when one is set.
    notifier.install_sms_gateway(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    poll = settings.outbox_poll_seconds
    loops = [
        jobs.run_loop(stop, settings.job_tick_seconds),
        outbox.run_dispatcher(stop, poll),
        oplog.run_sealer(stop, poll),
        wakeups.run_listener(stop),
    ]
    if provider is not None:  # else the in-process sandbox's API process sends them
        loops.append(instructions.run_dispatcher(stop, poll))
    try:
        await asyncio.gather(*loops)
    finally:
        set_provider(None)
        if provider is not None:
            await provider.aclose()
        await broker.stop()
        await Tortoise.close_connections()


# Commands that run the API server for as long as it lives.
_SERVING = ("serve", "dev")


def server_environment(environ: dict[str, str]) -> dict[str, str] | None:
    """The environment the server process should run with, when it differs from
    `environ`: CPython's small-object allocator keeps whole 1 MiB arenas that a single
    surviving object pins, so a server stays at its peak after ten thousand WebSocket
    viewers leave. On the system allocator (PYTHONMALLOC=malloc) the pages freed are
    given back (services/kit/memory.py trims them). Set PYTHONMALLOC yourself (e.g.
    `pymalloc`) to choose otherwise."""
    if "PYTHONMALLOC" in environ:
        return None
    return {**environ, "PYTHONMALLOC": "malloc"}


def _refuse_workers_without_shared_services(workers: int) -> None:
    settings = get_settings()
    if workers > 1 and (settings.database_url.startswith("sqlite") or not settings.redis_url):
        sys.exit(
            "serve --workers N > 1 needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL):"
            " the embedded SQLite database and in-process broker belong to one process"
        )


def local_url(host: str, port: int) -> str:
    """http://<host>:<port> as a browser on this machine reaches a server listening
    there: 127.0.0.1 for the any-address, brackets around an IPv6 address."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _default_public_base_url(host: str, port: int) -> None:
    """PUBLIC_BASE_URL, unless given (environment or .env), is where this server listens
    (the embedded sandbox bank's payUrl is built on it); for the processes it starts, too."""
    if "public_base_url" not in get_settings().model_fields_set:
        os.environ["PUBLIC_BASE_URL"] = local_url(host, port)
        get_settings.cache_clear()


def serve(host: str, port: int, workers: int) -> None:
    import uvicorn

    _refuse_workers_without_shared_services(workers)

    from app.live import uvicorn_ws_options

    uvicorn.run(
        "app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_config=None,
        **uvicorn_ws_options(get_settings()),
    )


def sandbox(host: str, port: int) -> None:
    """The sandbox payment provider as its own process (its own SQLite file at
    SANDBOX_DATABASE; callbacks to PLATFORM_CALLBACK_URL). Run the platform with
    PROVIDER_URL=http://<host>:<port> to use it over the network."""
    import uvicorn

    from services.kit.logs import configure_logging
    from services.payments.sandbox import create_sandbox_app

    settings = get_settings()
    configure_logging(settings)
    # Its bank pages (payUrl) are on its own address: SANDBOX_PUBLIC_URL or where it listens.
    public_url = settings.sandbox_public_url or local_url(host, port)
    app = create_sandbox_app(settings, public_url=public_url)
    # One process: the sandbox's books are one SQLite connection.
    uvicorn.run(app, host=host, port=port, workers=1, log_config=None)


def main(argv: list[str] | None = None) -> None:
    run_as_program = argv is None
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["simulate"]:
        # Its own parser: bad input is one line and exit status 2 (simulation/command.py).
        from simulation.command import main as simulate

        sys.exit(simulate(argv[1:]))
    if argv[:1] == ["backup-check"]:
        # Its own parser too (app/backup_check/): bad input is one line, exit status 2.
        from app.backup_check import main as backup_check

        sys.exit(backup_check(argv[1:]))
    parser = argparse.ArgumentParser(prog="python -m app", description="LendBridge platform")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="start the API server")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--workers", type=int, default=1)
    commands.add_parser("migrate", help="apply the database migrations")
    commands.add_parser("worker", help="run the jobs and the outbox dispatcher")
    commands.add_parser("seed-demo", help="create the roles and generated demo users")
    rotate = commands.add_parser(
        "rotate-pii", help="re-encrypt stored personal data under the current PII_KEY_ID"
    )
    rotate.add_argument("--batch-size", type=int, default=None, help="rows per transaction")
    schema = commands.add_parser("export-schema", help="print or write the GraphQL SDL")
    schema.add_argument("--output", "-o", default=None)
    box = commands.add_parser("sandbox", help="run the sandbox payment provider on its own")
    box.add_argument("--host", default="127.0.0.1")
    box.add_argument("--port", type=int, default=8100)
    commands.add_parser(
        "simulate", help="simulate a book of loans day by day, checking every invariant"
    )
    commands.add_parser(
        "backup-check",
        help="back up, destroy and restore a seeded scratch platform, check it, time it",
    )
    trusted = commands.add_parser(
        "persisted", help="build or load the persisted queries, or write the partner docs"
    )
    trusted.add_argument("action", choices=["build", "load", "docs"])
    trusted.add_argument(
        "file",
        nargs="?",
        default=None,
        help="default persisted/manifest.json (docs: docs/partner-api.md)",
    )
    from app.analytics_command import add_arguments as analytics_arguments
    from app.partners_command import add_arguments as partner_arguments

    partner_arguments(commands)
    analytics_arguments(commands)
    dev = commands.add_parser("dev", help="migrate, seed demo data and serve (one command)")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)

    if run_as_program and args.command in _SERVING:
        environment = server_environment(dict(os.environ))
        if environment is not None:  # start again with it (same process id)
            os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environment)
    if args.command in _SERVING:
        _default_public_base_url(args.host, args.port)
    if args.command == "serve":
        serve(args.host, args.port, args.workers)
    elif args.command == "migrate":
        asyncio.run(migrate())
    elif args.command == "worker":
        asyncio.run(worker())
    elif args.command == "seed-demo":
        asyncio.run(seed_demo())
    elif args.command == "rotate-pii":
        asyncio.run(rotate_pii(args.batch_size))
    elif args.command == "export-schema":
        export_schema(args.output)
    elif args.command == "sandbox":
        sandbox(args.host, args.port)
    elif args.command == "persisted":
        from app.persisted_command import main as persisted

        sys.exit(persisted(args.action, args.file))
    elif args.command == "partners":
        from app.partners_command import main as partners

        sys.exit(partners(args))
    elif args.command == "analytics":
        from app.analytics_command import main as analytics

        sys.exit(analytics(args))
    elif args.command == "dev":
        asyncio.run(migrate())
        from app.persisted_command import main as persisted

        persisted("load", None)  # the committed persisted queries, if not live already
        # In a process of its own: the seeding runs the app's lifespan (provider,
        # dispatchers), whose asyncio objects must not be left bound to an event loop
        # that is gone when the server's starts.
        seeded = subprocess.run([sys.executable, "-m", "app", "seed-demo"], cwd=ROOT, check=False)
        if seeded.returncode:
            sys.exit(seeded.returncode)
        print(f"GraphiQL: http://{args.host}:{args.port}/graphql  (root {ROOT.name})")
        serve(args.host, args.port, 1)


if __name__ == "__main__":
    main()
