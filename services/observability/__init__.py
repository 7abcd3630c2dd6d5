"""Operations: scrubbed logs (one line per turn), Sentry, and metrics (Prometheus locally, EMF on Lambda)."""

from services.observability.logs import configure_logging, hash_key, log_turn
from services.observability.metrics import Metrics
from services.observability.scrub import register_secrets, scrub_data, scrub_text, sensitive

__all__ = [
    "Metrics",
    "configure_logging",
    "hash_key",
    "log_turn",
    "register_secrets",
    "scrub_data",
    "scrub_text",
    "sensitive",
]
