"""The composition roots: every part of the ingress and the worker is built here, from settings, and nowhere else.

Tests pass fakes for the parts they replace (store, backend, credentials, connector, queue).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.auth import ChannelAuth
from bot.connector import BotConnector
from bot.gateway import Gateway
from bot.user_tokens import UserTokenService
from handlers.queues import InProcessQueue, JobQueue, SqsJobQueue
from services.monitors.store import MonitorStore, SQLiteMonitorStore
from services.settings import Settings
from services.store import SQLiteStore, Store

if TYPE_CHECKING:
    from botframework.connector.auth import ServiceClientCredentialsFactory

    from bot.worker import Worker

log = logging.getLogger(__name__)


def resolve_secrets(settings: Settings) -> Settings:
    """Return `settings` with the app password read from Secrets Manager when APP_PASSWORD_SECRET_ARN is set
    (once per process: call it at cold start). The secret is the password itself, or JSON with a `password` key."""
    if not settings.app_password_secret_arn or settings.microsoft_app_password.get_secret_value():
        return settings
    password = read_app_password(settings.app_password_secret_arn)
    return settings.model_copy(update={"microsoft_app_password": type(settings.microsoft_app_password)(password)})


def read_app_password(secret_arn: str) -> str:
    """Return the app password stored in the Secrets Manager secret `secret_arn` (its current version)."""
    import json

    import boto3

    text = boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    try:
        value = json.loads(text)
        return value.get("password", "") if isinstance(value, dict) else text
    except ValueError:
        return text


def channel_auth(settings: Settings, credentials_factory: ServiceClientCredentialsFactory | None = None) -> ChannelAuth:
    """Return the ChannelAuth; with APP_PASSWORD_SECRET_ARN, one that reads the secret again when Microsoft
    refuses the password (a rotated secret is picked up without a redeploy)."""
    arn = settings.app_password_secret_arn
    reader = functools.partial(read_app_password, arn) if arn else None
    return ChannelAuth(settings, credentials_factory, password_reader=reader)


def create_store(settings: Settings) -> Store:
    """Return the store STORE names: SQLite at STATE_DB, or the DynamoDB table DYNAMODB_TABLE."""
    if settings.store == "dynamodb":
        from services.store.dynamodb import DynamoDBStore

        return DynamoDBStore(settings.dynamodb_table)
    return SQLiteStore(settings.state_db)


def create_monitor_store(settings: Settings) -> MonitorStore:
    """Return where monitors live: the DynamoDB state table, or the SQLite state file."""
    if settings.store == "dynamodb":
        from services.monitors.store import DynamoDBMonitorStore

        return DynamoDBMonitorStore(settings.dynamodb_table)
    return SQLiteMonitorStore(settings.state_db)


def build_tick(settings: Settings, *, monitors: MonitorStore | None = None, queue: JobQueue | None = None) -> Any:
    """Return `tick(now)` for the Lambda tick function: due monitors → scheduled jobs on the analytics queue."""
    from handlers.monitor_tick import tick

    monitors = monitors or create_monitor_store(settings)
    queue = queue or SqsJobQueue({"monitor": settings.analytics_queue_url})
    return functools.partial(tick, monitors, queue)


def build_worker(
    settings: Settings,
    *,
    store: Store | None = None,
    backend: Any = None,
    credentials_factory: ServiceClientCredentialsFactory | None = None,
    connector: BotConnector | None = None,
    auth: ChannelAuth | None = None,
    usage: Any = None,
    monitors: MonitorStore | None = None,
    clock: Callable[[], float] | None = None,
) -> Worker:
    """Return a Worker: the Router with every command wired to the backend, the store, and Teams replies.

    Imported here, not at the top: the ingress imports this module and must not load the conversation logic."""
    from bot.user_tokens import identity_of
    from bot.worker import Worker
    from handlers.analytics import AnalyticsConfig, register_analytics
    from handlers.app import build_router
    from handlers.attachments import attachments_of
    from services.backends.registry import backend_type, load_hook
    from services.observability.start import process_metrics
    from services.observability.turns import TurnObserver
    from services.routing import Deployment, create_deployment, load_route_table, single
    from services.usage import usage_service_from_settings

    store = store or create_store(settings)
    if backend is not None:  # a test's backend in place of the one BACKEND names
        deployment = Deployment({backend.name: backend}, {backend.name: settings.backend}, single(backend.name))
    else:
        deployment = create_deployment(settings, store, load_route_table(settings))
    auth = auth or channel_auth(settings, credentials_factory)
    connector = connector or BotConnector(auth)
    usage = usage or usage_service_from_settings(settings)
    user_tokens = user_token_service(settings, auth, routes=deployment.routes if backend is None else None)
    files = functools.partial(attachments_of, allowed_hosts=settings.download_allowed_hosts)
    extras = []
    for kind in dict.fromkeys(deployment.types.values()):
        hook = backend_type(kind).teams_extras
        if hook:
            extras.append((load_hook(hook), [n for n, t in deployment.types.items() if t == kind]))
    router = build_router(
        deployment.backends, store, usage, identity_for=functools.partial(identity_of, service=user_tokens),
        attachments_for=files, extras=extras, routes=deployment.routes,
    )  # fmt: skip
    default = deployment.backends[deployment.routes.default]
    register_analytics(router, default, AnalyticsConfig.from_settings(settings), usage, store)
    from bot.proactive import ProactivePoster
    from handlers.monitors import MonitorConfig, MonitorRunner, register_monitors

    monitors = monitors or create_monitor_store(settings)
    clock = clock or time.time
    monitor_config = MonitorConfig.from_settings(settings)
    from services.analytics.isolation import Runner

    analytics_config = AnalyticsConfig.from_settings(settings)
    analysis = Runner(analytics_config.limits, analytics_config.processes)
    from services.safe_fetch import AllowList

    poster = ProactivePoster(connector, AllowList.of(settings.bot_service_hosts))
    runner = MonitorRunner(
        monitors, monitor_config, poster, analysis=analysis, clock=clock, is_member=poster.creator_is_member
    )
    register_monitors(router, monitors, monitor_config, runner, clock)
    return Worker(
        settings, store, router, connector, on_report=TurnObserver(process_metrics()), user_tokens=user_tokens,
        closers=[*([usage.close] if usage else []), monitors.close], scheduled=runner.run_job,
    )  # fmt: skip


# The ingress answers Teams' sign-in invokes while Teams waits, inside the ingress Lambda's 10 s (template.yaml,
# IngressFunction Timeout): one token service call there may take at most this long, leaving time for the
# token check, the store and the queue. The worker, with minutes to spare, waits UserTokenService's default 15 s.
INGRESS_TOKEN_WAIT_SECONDS = 5.0


def user_token_service(
    settings: Settings, auth: ChannelAuth, *, timeout: float = 15.0, routes: Any = None
) -> UserTokenService | None:
    """Return the token service client of the OAuth connection users sign in with (each call waiting at most
    `timeout` seconds), or None when no backend acts as the signed-in user (BackendType.sign_in_connection).
    `routes` is the route table when the caller has read it already."""
    from services.routing import sign_in_connection

    connection = sign_in_connection(settings, routes)
    if not connection:
        return None
    return UserTokenService(
        str(settings.bot_token_service_url), connection, auth, settings.microsoft_app_id, timeout=timeout
    )


def build_ingress(
    settings: Settings,
    *,
    store: Store | None = None,
    queue: JobQueue | None = None,
    credentials_factory: ServiceClientCredentialsFactory | None = None,
) -> Gateway:
    """Return the ingress: authentication, the store for idempotency records, and the job queue (SQS unless
    `queue` is given)."""
    auth = channel_auth(settings, credentials_factory)
    store = store or create_store(settings)
    if queue is None:
        queue = SqsJobQueue({"chat": settings.chat_queue_url, "analytics": settings.analytics_queue_url})
    user_tokens = user_token_service(settings, auth, timeout=INGRESS_TOKEN_WAIT_SECONDS)
    closers = [user_tokens.close] if user_tokens else []
    return Gateway(settings, auth, store, queue, closers=closers, user_tokens=user_tokens)


def build_local(
    settings: Settings,
    *,
    store: Store | None = None,
    backend: Any = None,
    credentials_factory: ServiceClientCredentialsFactory | None = None,
    connector: BotConnector | None = None,
    clock: Callable[[], float] | None = None,
) -> Gateway:
    """Return the ingress with the worker in the same process behind an in-process queue (`make run`, tests),
    and the monitors' tick (every MONITOR_TICK_SECONDS; `clock` gives it the time, for tests)."""
    from handlers.monitor_tick import Ticker

    store = store or create_store(settings)
    auth = channel_auth(settings, credentials_factory)
    monitors = create_monitor_store(settings)
    worker = build_worker(
        settings, store=store, backend=backend, connector=connector, auth=auth, monitors=monitors, clock=clock
    )
    # Durable on the SQLite store: jobs are kept in its `jobs` table until answered and resumed at start-up.
    journal = store if hasattr(store, "add_job") else None
    if journal is None:
        log.warning("the %s store keeps no job journal: a crash loses the turns in progress", type(store).__name__)
    queue = InProcessQueue(
        worker.run, settings.max_concurrent_turns, journal=journal,
        resume=functools.partial(worker.run, resumed=True), max_waiting_per_user=settings.max_queued_turns_per_user,
    )  # fmt: skip
    worker.resumes_cut_off_turns = lambda: queue.durable
    ticker = Ticker(monitors, queue, interval=settings.monitor_tick_seconds, clock=clock or time.time)
    background: list[Any] = [ticker, *_emr_checker(settings, store, worker)]
    return Gateway(
        settings, auth, store, queue, closers=[worker.close], user_tokens=worker.user_tokens, background=background
    )


def _emr_checker(settings: Settings, store: Store, worker: Any) -> list[Any]:
    """The in-process EMR Serverless check when EMR_* are set (`make run` starting runs on a real application):
    on AWS the analytics worker's EmrCheck schedule posts the runs that ended; here nothing else would."""
    from handlers.analytics import emr_job_of

    job = emr_job_of(settings)
    if job is None:
        return []
    from handlers.emr_completion import EmrChecker

    return [EmrChecker(store, job, worker.replier_if_allowed)]
