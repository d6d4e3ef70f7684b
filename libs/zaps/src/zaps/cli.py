"""The `zaps` command: run services, apply migrations, and (with the engine) inspect and replay runs."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path

from zaps.settings import Environment, ZapsSettings, load_settings


def _cmd_migrate(args: argparse.Namespace) -> int:
    from zaps.app import resolve_database_url
    from zaps.logging import configure_logging
    from zaps.migrate import migrate

    settings = load_settings(ZapsSettings)
    configure_logging(service="zaps-migrate", level=settings.log_level, secrets=settings.secret_values())
    migrate(resolve_database_url(settings), args.revision, allow_foreign_tables=settings.allow_foreign_tables)
    print(f"database migrated to {args.revision}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from zaps.registry import get_service, load_service_object

    os.environ["PORT"] = str(args.port)  # the service's settings see the port in use, as under `zaps dev`
    service = load_service_object(args.service) if ":" in args.service else get_service(args.service)
    app = service.create_app()
    settle_memory()
    # Forwarded headers are read by the app itself, from TRUSTED_PROXIES only (zaps.app), never from any peer.
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, proxy_headers=False)
    return 0


def settle_memory() -> None:
    """Keep what start-up made (modules, the app) out of the garbage collector's full passes.

    Under load each full collection walked every object of the process and paused the server 60-80 ms, more than
    once a second; frozen, the webhook p99 fell from 85 ms to about 26 ms (docs/performance.md).
    """
    gc.collect()
    gc.freeze()


def _cmd_dev(args: argparse.Namespace) -> int:
    from zaps import dev_server
    from zaps.gateway import Gateway
    from zaps.logging import configure_logging
    from zaps.migrate import ForeignDatabaseError, migrate
    from zaps.registry import discover_services

    dev_server.stop_cleanly_while_starting()
    os.environ.setdefault("ENVIRONMENT", Environment.development.value)
    base = load_settings(ZapsSettings)
    port = args.port or base.port
    # Before anything starts: a busy port must not leave a database and workers running behind an error.
    try:
        listening = dev_server.take_port(args.host, port)
    except dev_server.PortBusy as busy:
        print(f"zaps dev: {busy}", file=sys.stderr)
        return 1
    os.environ["PORT"] = str(port)  # the services' settings see the port in use (the worked example's sink URL)
    configure_logging(service="zaps-dev", level=base.log_level, secrets=base.secret_values())
    if base.database_url is None:
        from zaps.embedded_db import start_embedded_postgres

        data = Path(base.data_dir).resolve() / "postgres"
        print(f"DATABASE_URL is not set: starting an embedded PostgreSQL in {data}", flush=True)
        os.environ["DATABASE_URL"] = start_embedded_postgres(data)
    if base.redis_url is None:
        print("REDIS_URL is not set: using the in-memory stand-in", flush=True)
    # Once, before the services start (each would refuse on its own, in a traceback): a plain answer here.
    try:
        migrate(os.environ["DATABASE_URL"], allow_foreign_tables=base.allow_foreign_tables)
    except ForeignDatabaseError as refused:
        print(f"zaps dev: {refused}", file=sys.stderr)
        return 1
    services = discover_services()
    apps = {}
    for service in services.values():
        # Each app reads the same environment again (its own settings class), so the prefix read here is its own.
        apps[service.load_settings().path_prefix] = service.create_app()
    root = f"http://{'localhost' if args.host in ('127.0.0.1', '0.0.0.0') else args.host}:{port}"  # noqa: S104
    print("\nZaps is starting...", flush=True)
    settle_memory()
    started = dev_server.serve(
        Gateway(apps), listening, on_ready=lambda: print(dev_server.banner(root, apps), flush=True)
    )
    return 0 if started else 1


def _cmd_new_service(args: argparse.Namespace) -> int:
    from zaps.scaffold import ScaffoldError, new_service
    from zaps.scaffold.create import find_root

    try:
        root = find_root(Path.cwd())
        report = new_service(args.name, root=root)
    except ScaffoldError as error:
        print(f"zaps new service: {error}", file=sys.stderr)
        return 2
    print("\n".join(report))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zaps", description="Run and operate Zaps services.")
    commands = parser.add_subparsers(dest="command", required=True)

    migrate = commands.add_parser("migrate", help="apply database migrations (also done at every start)")
    migrate.add_argument("--revision", default="head")
    migrate.set_defaults(func=_cmd_migrate)

    serve = commands.add_parser("serve", help="run one service (API and worker) with uvicorn")
    serve.add_argument("service", help="service name (e.g. test), or module:attribute of a Service object")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.set_defaults(func=_cmd_serve)

    dev = commands.add_parser("dev", help="run every service on one port, as Traefik would route them")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=None, help="default: the PORT setting (environment or .env), 8000")
    dev.set_defaults(func=_cmd_dev)

    new = commands.add_parser("new", help="make something new in this repository").add_subparsers(
        dest="what", required=True
    )
    new_service = new.add_parser(
        "service",
        help="a service with one example automation and its test, wired into the workspace and the stack",
        description="Creates services/<name>-service and makes every edit the stack needs (docs/automations.md).",
    )
    new_service.add_argument("name", help="short name, e.g. orders: folder orders-service, route /api/orders")
    new_service.set_defaults(func=_cmd_new_service)

    from zaps.connections.cli import add_command as add_connections_command
    from zaps.runs_cli import add_commands
    from zaps.try_cli import add_command as add_run_command

    add_commands(commands)
    add_run_command(commands)
    add_connections_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
