"""The ``parley`` command: local services, the platform's processes, and development helpers."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ParleyError

if TYPE_CHECKING:
    from core.settings import Settings
    from ingress.channels_admin import ChannelConfigIn


def _services(args: argparse.Namespace) -> int:
    from services import devstack

    action = {"up": devstack.up, "down": devstack.down, "status": devstack.status}[args.action]
    statuses = action(args.names or None)
    for status in statuses:
        print(f"{status.name:<8} {status.state:<9} {status.detail}")
    if args.action == "up" and not args.names:
        from services.devstack.chromium import ensure_chromium
        from services.devstack.ffmpeg import ensure_ffmpeg

        # Not services, but the browser tests' Chromium and the media processor's ffmpeg are
        # installed with the rest of the set-up.
        print(f"{'chromium':<8} {'installed':<9} {ensure_chromium()}")
        print(f"{'ffmpeg':<8} {'installed':<9} {ensure_ffmpeg()}")
    if args.action == "status" and any(s.state == "down" for s in statuses):
        return 3
    return 0


def _token(args: argparse.Namespace) -> int:
    from core.ids import new_id
    from core.scopes import ADMIN, PLATFORM_TENANT
    from core.settings import get_settings
    from core.tokens import mint_token

    settings = get_settings()
    if args.admin == bool(args.tenant):
        raise ParleyError("give either --tenant or --admin")
    tenant = PLATFORM_TENANT if args.admin else args.tenant
    scopes = [ADMIN] if args.admin else args.scope
    print(
        mint_token(
            settings.require_jwt_secret(),
            tenant,
            args.subject,
            args.ttl,
            scopes=scopes,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            token_id=new_id("jti"),
        )
    )
    return 0


def _keygen(args: argparse.Namespace) -> int:
    from core.crypto import new_master_key

    print(new_master_key())
    return 0


def _pairs(values: list[str], what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        name, sep, item = value.partition("=")
        if not sep or not name:
            raise ParleyError(f"{what} must look like NAME=VALUE, got {name or value!r}")
        pairs[name] = item
    return pairs


def _channels(args: argparse.Namespace) -> int:
    import json

    from pydantic import ValidationError

    from core.crypto import SecretBox
    from core.settings import get_settings
    from ingress.api_models import ChannelConfigView, json_of
    from ingress.channels_admin import ChannelConfigIn
    from storage.channel_configs import ChannelConfigRepository
    from storage.mongo import connect, database, ensure_indexes

    settings = get_settings()
    client = connect(settings)
    try:
        db = database(client, settings)
        ensure_indexes(db)
        repo = ChannelConfigRepository(db, SecretBox(settings.require_master_key()))
        if args.action == "list":
            docs = repo.list(args.tenant)
        else:
            try:
                payload = ChannelConfigIn(
                    channel=args.channel,
                    account_id=args.account_id,
                    secrets=_pairs(args.secret, "--secret"),
                    options=_pairs(args.option, "--option"),
                )
            except ValidationError as exc:
                raise ParleyError(exc.errors()[0]["msg"]) from None
            check = _prove_account(payload, settings)
            print(f"parley: {payload.channel} account proven ({check})", file=sys.stderr)
            docs = [
                repo.create(
                    args.tenant,
                    payload.channel,
                    payload.account_id,
                    payload.secrets,
                    payload.options,
                )
            ]
    finally:
        client.close()
    for doc in docs:
        print(json.dumps(json_of(ChannelConfigView.of(doc, settings.public_base_url)), indent=2))
    return 0


def _prove_account(payload: ChannelConfigIn, settings: Settings) -> str:
    """The provider's word that the secrets are the account's (as the API asks it), or the
    refusal as an error; nothing is stored before."""
    from channels.accounts import AccountCheckFailed, AccountNotProven, prove_account
    from channels.runtime import runtime_from_settings

    runtime = runtime_from_settings(settings)
    try:
        return prove_account(
            payload.channel, payload.account_id, payload.secrets, payload.options, runtime
        )
    except AccountNotProven as exc:
        raise ParleyError(f"account not proven ({exc.check}): {exc}; nothing stored") from None
    except AccountCheckFailed as exc:
        raise ParleyError(f"provider unavailable ({exc.check}): {exc}; nothing stored") from None
    finally:
        runtime.close()


def _dlq(args: argparse.Namespace) -> int:
    import json

    from core.errors import NotFound
    from core.settings import get_settings
    from ingress.api_models import DeadLetterView, ReplayAccepted, json_of
    from storage.dead_letters import DeadLetterRepository
    from storage.messages import MessageRepository
    from storage.mongo import connect, database, ensure_indexes
    from tasks.redrive import replay_dead_letter

    settings = get_settings()
    client = connect(settings)
    try:
        db = database(client, settings)
        ensure_indexes(db)
        dead_letters = DeadLetterRepository(db)
        if args.action == "list":
            if args.limit < 1:
                raise ParleyError("--limit must be a positive integer")
            docs = dead_letters.list(
                args.tenant,
                channel=args.channel,
                stage=args.stage,
                reason=args.reason,
                state=None if args.state == "all" else args.state,
                after=args.after,
                limit=args.limit,
            )
            lines = [json_of(DeadLetterView.model_validate(doc)) for doc in docs]
        elif args.action == "replay":
            doc = replay_dead_letter(
                dead_letters, MessageRepository(db), args.tenant, args.dead_letter_id
            )
            lines = [json_of(ReplayAccepted.of(doc))]
        else:
            if not dead_letters.purge(args.tenant, args.dead_letter_id):
                raise NotFound(f"dead letter {args.dead_letter_id} not found")
            lines = [{"id": args.dead_letter_id, "purged": True}]
    finally:
        client.close()
    for line in lines:
        print(json.dumps(line))
    return 0


def _metrics_folder(settings: Settings, name: str) -> Path:
    """A folder of prometheus-client's multiprocess files for one start of a process tree,
    emptied, and this process's values (and its children's) written there from now on."""
    from tasks.metrics import use_multiprocess_files

    folder = settings.home / "metrics" / f"{name}-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    use_multiprocess_files(str(folder))
    return folder


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _ingress(args: argparse.Namespace) -> int:
    from core.settings import get_settings

    settings = get_settings()
    # Every uvicorn worker writes its metrics to this start's folder (inherited through the
    # environment); whichever answers GET /metrics sums them all (ingress/metrics.py).
    folder = _metrics_folder(settings, "ingress")
    try:
        _serve_ingress(args, settings)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def _serve_ingress(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn

    uvicorn.run(
        "ingress.asgi:app",
        host=args.host or settings.ingress_host,
        port=args.port or settings.ingress_port,
        workers=settings.ingress_workers if args.workers is None else args.workers,
        log_level="info",
        # Logging is Parley's (core/logs.py): uvicorn's loggers, its access log included,
        # propagate to the root handler and come out in the same format.
        log_config=None,
        access_log=True,
        # The client address behind a trusted proxy, so one caller's failures are not everyone's.
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


def _engine(args: argparse.Namespace) -> int:
    from services.mcp_engine.server import main as engine_main

    argv = ["--host", args.host]
    if args.port:
        argv += ["--port", str(args.port)]
    engine_main(argv)
    return 0


def _worker(args: argparse.Namespace) -> int:
    import celery.apps.worker

    from core.settings import get_settings
    from tasks.queues import QUEUES, worker_concurrency

    # Celery says its shutdown steps by writing to stderr past logging ("worker: Warm shutdown");
    # they become log lines like the rest, so every line a worker writes is in one format.
    shutdown = logging.getLogger("celery.apps.worker")
    celery.apps.worker.safe_say = lambda msg, f=None: shutdown.info(msg.strip())  # type: ignore[attr-defined]

    spec = QUEUES[args.queue]
    settings = get_settings()
    port = settings.worker_metrics_port if args.metrics_port is None else args.metrics_port
    if port:
        # A folder per worker process, emptied: the values of this worker alone.
        from tasks.metrics import serve

        _metrics_folder(settings, spec.name)
        serve(settings.worker_metrics_host, port)
    from tasks.app import app

    argv = [
        "--quiet",  # no banner: every line a worker writes is a log line (core/logs.py)
        "worker",
        f"--queues={spec.name}",
        f"--hostname={spec.name}@%h",
        f"--pool={spec.pool}",
        f"--concurrency={worker_concurrency(spec.name, settings, args.concurrency)}",
        f"--loglevel={args.loglevel}",
        *args.extra,
    ]
    app.worker_main(argv)
    return 0


def _beat(args: argparse.Namespace) -> int:
    from core.errors import ConfigurationError
    from core.settings import get_settings
    from tasks.app import app

    home = get_settings().home
    schedule = home / "run" / "celerybeat-schedule"
    try:
        schedule.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"beat keeps its schedule in PARLEY_HOME ({home}), which cannot be written here "
            f"({exc.strerror}); set PARLEY_HOME to a folder this user may write"
        ) from None
    app.start(["--quiet", "beat", f"--schedule={schedule}", f"--loglevel={args.loglevel}"])
    return 0


def _flower(args: argparse.Namespace) -> int:
    import os

    from core.errors import ConfigurationError
    from core.settings import get_settings
    from tasks.app import app

    login = get_settings().flower_basic_auth
    user, sep, password = login.get_secret_value().partition(":") if login else ("", "", "")
    if not (user and sep and password):
        raise ConfigurationError(
            "PARLEY_FLOWER_BASIC_AUTH must be set as user:password (Flower shows every task's"
            " arguments); `parley run` makes a development one"
        )
    # Flower reads its options from FLOWER_* too: the login stays off the command line (ps).
    os.environ["FLOWER_BASIC_AUTH"] = login.get_secret_value() if login else ""
    app.start(["flower", f"--address={args.address}", f"--port={args.port}"])
    return 0


def _run(args: argparse.Namespace) -> int:
    from cli.platform import run_platform

    return run_platform(port=args.port, quiet=args.quiet)


def _version() -> str:
    from importlib.metadata import version

    return version("parley")


def build_parser() -> argparse.ArgumentParser:
    from cli import config as cli_config
    from cli import events as cli_events
    from cli import templates as cli_templates
    from cli import tenants as cli_tenants
    from storage.dead_letters import CLASSIFICATIONS, STAGES, STATES
    from tasks.queues import QUEUES

    parser = argparse.ArgumentParser(prog="parley", description=__doc__)
    parser.add_argument(
        "--version", action="version", version=f"parley {_version()}", help="print the version"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    services = sub.add_parser("services", help="install, start and stop the local services")
    services.add_argument(
        "action", choices=["up", "down", "status"], help="install and start, stop, or report"
    )
    services.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="redis, postgres, mongo, kafka or clamav (default: all but postgres, which"
        " PARLEY_FERRETDB_HANDLER=postgresql adds)",
    )
    services.set_defaults(func=_services)

    token = sub.add_parser("token", help="mint a bearer token (a tenant's, or the platform's)")
    token.add_argument("--tenant", help="the tenant the token speaks for")
    token.add_argument(
        "--admin", action="store_true", help="a platform operator's token (scope admin)"
    )
    token.add_argument(
        "--scope",
        action="append",
        default=None,
        help="limit a tenant token to these scopes (default: every tenant scope)",
    )
    token.add_argument(
        "--subject", default="developer", help="the token's sub (default: %(default)s)"
    )
    token.add_argument(
        "--ttl", type=int, default=24 * 3600, help="lifetime in seconds (default: %(default)s)"
    )
    token.set_defaults(func=_token)

    cli_tenants.add_parsers(sub)
    cli_templates.add_parsers(sub)

    keygen = sub.add_parser("keygen", help="print a new PARLEY_MASTER_KEY")
    keygen.set_defaults(func=_keygen)

    channels = sub.add_parser("channels", help="connect a tenant's provider accounts")
    channels_sub = channels.add_subparsers(dest="action", required=True)
    add = channels_sub.add_parser(
        "add",
        help="register a channel config once the provider proves the secrets are the "
        "account's; prints its webhook URL",
    )
    add.add_argument(
        "channel", choices=["whatsapp", "messenger", "slack", "teams"], help="the provider"
    )
    add.add_argument("--tenant", required=True, help="the tenant the account belongs to")
    add.add_argument(
        "--account-id",
        required=True,
        help="phone_number_id, page id, Slack team id or Teams app id",
    )
    add.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a provider secret, stored encrypted (repeat for more)",
    )
    add.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a channel option (repeat for more)",
    )
    listing = channels_sub.add_parser("list", help="a tenant's channel configs (no secrets)")
    listing.add_argument("--tenant", required=True, help="the tenant")
    channels.set_defaults(func=_channels)

    dlq = sub.add_parser("dlq", help="list, replay and purge a tenant's dead letters")
    dlq_sub = dlq.add_subparsers(dest="action", required=True)
    dlq_list = dlq_sub.add_parser("list", help="one JSON object per dead letter, in id order")
    dlq_list.add_argument("--tenant", required=True, help="the tenant")
    dlq_list.add_argument("--channel", help="only this channel's")
    dlq_list.add_argument("--stage", choices=STAGES, help="only those failed at this stage")
    dlq_list.add_argument("--reason", choices=CLASSIFICATIONS, help="only this classification")
    dlq_list.add_argument(
        "--state", choices=[*STATES, "all"], default="open", help="(default: %(default)s)"
    )
    dlq_list.add_argument("--after", metavar="DEAD_LETTER_ID", help="the last id already seen")
    dlq_list.add_argument("--limit", type=int, default=50, help="at most this many (default: 50)")
    for action, text in (
        ("replay", "enqueue the turn again from its failed stage"),
        ("purge", "delete the dead letter"),
    ):
        dlq_action = dlq_sub.add_parser(action, help=text)
        dlq_action.add_argument("--tenant", required=True, help="the tenant")
        dlq_action.add_argument("dead_letter_id", metavar="DEAD_LETTER_ID", help="the dead letter")
    dlq.set_defaults(func=_dlq)

    ingress = sub.add_parser("ingress", help="serve the HTTP ingress")
    ingress.add_argument("--host", help="the address to bind (default: PARLEY_INGRESS_HOST)")
    ingress.add_argument("--port", type=int, help="the port (default: PARLEY_INGRESS_PORT)")
    ingress.add_argument(
        "--workers",
        type=_positive,
        help="its processes, uvicorn workers on one port (default: PARLEY_INGRESS_WORKERS)",
    )
    ingress.set_defaults(func=_ingress)

    engine = sub.add_parser("engine", help="serve the reference MCP engine over gRPC")
    engine.add_argument("--port", type=int, help="the port (default: PARLEY_ENGINE_PORT)")
    engine.add_argument("--host", default="127.0.0.1", help="the address to bind")
    engine.set_defaults(func=_engine)

    worker = sub.add_parser("worker", help="run a Celery worker for one queue")
    worker.add_argument("queue", choices=sorted(QUEUES), help="the queue it consumes")
    worker.add_argument(
        "--concurrency",
        type=_positive,
        help="threads or processes (default: PARLEY_WORKER_CONCURRENCY's, else the queue's)",
    )
    worker.add_argument("--loglevel", default="INFO", help="Celery's log level")
    worker.add_argument(
        "--metrics-port",
        type=int,
        help="serve this worker's Prometheus metrics on this port (default: "
        "PARLEY_WORKER_METRICS_PORT; 0: off)",
    )
    worker.add_argument("extra", nargs=argparse.REMAINDER, help="more celery worker options")
    worker.set_defaults(func=_worker)

    cli_events.add_parsers(sub)
    cli_config.add_parsers(sub)

    beat = sub.add_parser("beat", help="run Celery beat (maintenance jobs)")
    beat.add_argument("--loglevel", default="INFO", help="Celery's log level")
    beat.set_defaults(func=_beat)

    flower = sub.add_parser("flower", help="run the Flower dashboard")
    flower.add_argument("--address", default="127.0.0.1", help="the address to bind")
    flower.add_argument("--port", type=int, default=5555, help="the port (default: 5555)")
    flower.set_defaults(func=_flower)

    run = sub.add_parser("run", help="the whole platform locally; Ctrl-C stops all of it")
    run.add_argument("--port", type=int, default=8000, help="the ingress's port (default: 8000)")
    run.add_argument(
        "--quiet", action="store_true", help="do not echo the processes' logs (files only)"
    )
    run.set_defaults(func=_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from core.logs import configure

    configure()
    try:
        # Inside: building the parser imports modules that may read the settings.
        args = build_parser().parse_args(argv)
        code: int = args.func(args)
    except ParleyError as exc:
        print(f"parley: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
