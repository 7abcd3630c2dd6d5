"""What happens when a turn ends: its one log line, its metrics; and what every log line and Sentry event of the
turn carries while it runs (the turn's own values to scrub, its tags)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from services.observability.logs import hash_key, log_turn
from services.observability.metrics import Metrics
from services.observability.scrub import sensitive


class Report(Protocol):
    """What the observer reads from a turn's report (handlers.report.TurnReport)."""

    def as_dict(self) -> dict[str, Any]: ...


def turn_fields(report: Mapping[str, Any]) -> dict[str, Any]:
    """Return the fields of a turn's log line from its report data: ids (the conversation key hashed), kind,
    command, backend, outcome, reference, error kind, milliseconds to the ingress's acknowledgement, waiting in
    the queue, to first text and to final answer, tokens."""

    def ms(seconds: float | None) -> int | None:
        return None if seconds is None else round(seconds * 1000)

    return {
        "activity_id": report.get("activity_id"),
        "conversation": hash_key(report.get("conversation_key") or ""),
        "kind": report.get("kind"),
        "command": report.get("command"),
        "backend": report.get("backend"),
        "outcome": report.get("outcome"),
        "reference": report.get("reference"),
        "error": report.get("error_kind"),
        "ack_ms": ms(report.get("ack_seconds")),
        "queue_ms": ms(report.get("queue_seconds")),
        "first_text_ms": ms(report.get("first_text_seconds")),
        "final_ms": ms(report.get("final_seconds")),
        "tokens_in": report.get("tokens_in"),
        "tokens_out": report.get("tokens_out"),
    }


class TurnObserver:
    """Called with each finished turn's report: writes its one INFO line and counts it in `metrics`."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def __call__(self, report: Report) -> None:
        data = report.as_dict()
        log_turn(turn_fields(data))
        self.metrics.record_turn(
            kind=str(data.get("kind") or ""),
            backend=str(data.get("backend") or ""),
            outcome=str(data.get("outcome") or ""),
            error=str(data.get("error_kind") or ""),
            latency={"first_text": data.get("first_text_seconds"), "final": data.get("final_seconds")},
            tokens_in=data.get("tokens_in"),
            tokens_out=data.get("tokens_out"),
        )
        # The worker's give-up path (last attempt, dead-letter queue) reports without ever running the turn.
        if data.get("outcome") == "failed" and data.get("final_seconds") is None:
            self.metrics.record_dead_letter(str(data.get("kind") or ""))


def strings_in(value: Any) -> list[str]:
    """Return every string inside `value` (mappings, lists, scalars), e.g. a turn's text, card data, files."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in strings_in(item)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in strings_in(item)]
    return []


@contextlib.contextmanager
def observed_request(private: list[str], tags: Mapping[str, object]) -> Iterator[None]:
    """Run the ingress's handling of one activity so that its `private` values (the text, the sender's name)
    are scrubbed from every log line and event, and every Sentry event sent within carries `tags` (ids, never
    text), an exception escaping it included: it is reported here, inside the tags, and re-raised (the aiohttp
    or Lambda integration's second report of the same exception is dropped by Sentry's dedupe). Yields None;
    the Sentry part is skipped when Sentry is off."""
    with sensitive(*private):
        import sentry_sdk

        if not sentry_sdk.is_initialized():
            yield
            return
        from services.observability.sentry import tagged

        with tagged(tags):
            try:
                yield
            except Exception as error:
                sentry_sdk.capture_exception(error)
                raise


@contextlib.contextmanager
def observed_turn(
    private: list[str],
    tags: Mapping[str, object],
    details: Callable[[], Mapping[str, object]] = dict,
    warning_for: tuple[type[BaseException], ...] = (),
) -> Iterator[None]:
    """Run a turn's block so that its `private` values are scrubbed from every log line and event, and every
    Sentry event carries `tags` plus `details()` read when the event is sent (reference id, backend, command)
    and the backend's request id; events for `warning_for` exceptions (the user's own mistakes) are warnings.
    Yields None; the Sentry part is skipped when Sentry is off."""
    with sensitive(*private):
        import sentry_sdk

        if not sentry_sdk.is_initialized():
            yield
            return
        from services.observability.sentry import tag_turn_events

        with tag_turn_events(tags, details, warning_for):
            yield
