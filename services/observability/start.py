"""Start observability for one process: scrubbed logging, Sentry when configured, the process's metrics."""

from __future__ import annotations

from services.observability.logs import configure_logging
from services.observability.metrics import Metrics
from services.settings import Settings, SettingsError, load_settings

_metrics: Metrics | None = None


def process_metrics() -> Metrics:
    """Return this process's Metrics (created on first use), shared by the ingress and the workers in it."""
    global _metrics
    if _metrics is None:
        _metrics = Metrics()
    return _metrics


def start_observability(settings: Settings, component: str) -> Metrics:
    """Configure logging from LOG_LEVEL and LOG_FORMAT (the app password registered for scrubbing), start Sentry
    when SENTRY_DSN is set, and return the process's Metrics. `component` tags Sentry events (`ingress`,
    `worker`, `server`). Safe to call more than once."""
    configure_logging(
        settings.log_level, settings.log_format, secrets=(settings.microsoft_app_password.get_secret_value(),)
    )
    if settings.sentry_dsn.get_secret_value():
        from services.observability.sentry import init_sentry  # sentry-sdk is loaded only when it is used

        init_sentry(settings, component=component)
    return process_metrics()


def start_at_cold_start(component: str) -> None:
    """For a Lambda entry module, at import: start observability from the environment, so that Sentry's Lambda
    integration wraps the very first invocation too. A bad setting is left for the first invocation to report
    (the entry builds its parts there and fails with the one-line message)."""
    try:
        start_observability(load_settings(), component)
    except SettingsError:
        pass
