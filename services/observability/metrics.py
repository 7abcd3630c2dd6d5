"""The gateway's metrics: turns, failures by kind, latency, tokens, guardrail interventions, dead-lettered jobs.

Kept in a Prometheus registry (served as text on a local `/metrics`) and, on Lambda, also written to stdout in
CloudWatch's embedded metric format (Powertools Metrics), one record per turn, so CloudWatch computes the
latency percentiles. Never labelled with anything a user chose: kinds, backends and outcomes are closed sets.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from services.observability.logs import on_lambda

log = logging.getLogger(__name__)
NAMESPACE = "TeamsAIGateway"
STAGES = ("ack", "first_text", "final")  # latency to the acknowledgement, the first text, the final answer
_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    """Counters and histograms of one process. `emf` (default: on Lambda) also writes each turn as an embedded
    metric format record to stdout under `namespace`."""

    def __init__(self, *, namespace: str = NAMESPACE, service: str = "gateway", emf: bool | None = None) -> None:
        self.namespace, self.service = namespace, service
        self.emf = on_lambda() if emf is None else emf
        self.registry = CollectorRegistry()
        r = self.registry
        self.turns = Counter("gateway_turns", "Finished turns", ["kind", "backend", "outcome"], registry=r)
        self.failures = Counter("gateway_turn_failures", "Failed turns by error kind", ["kind", "error"], registry=r)
        self.latency = Histogram(
            "gateway_turn_latency_seconds", "Seconds from receipt to ack, first text, final answer",
            ["kind", "stage"], buckets=_BUCKETS, registry=r,
        )  # fmt: skip
        self.tokens = Counter("gateway_tokens", "Tokens the backend reported", ["backend", "direction"], registry=r)
        self.guardrail = Counter(
            "gateway_guardrail_interventions", "Turns blocked by a guardrail", ["backend"], registry=r
        )
        self.requests = Counter(
            "gateway_requests", "Answered POST /api/messages by status class", ["status"], registry=r
        )
        self.dead_letters = Counter("gateway_dead_lettered_jobs", "Jobs given up for good", ["kind"], registry=r)

    def record_turn(
        self,
        *,
        kind: str,
        backend: str,
        outcome: str,
        error: str = "",
        latency: Mapping[str, float | None] | None = None,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
    ) -> None:
        """Count one finished turn. `outcome` is answered|blocked|stopped|failed; `error` names the failure's kind
        (e.g. `throttled`, `internal`); `latency` maps a stage of STAGES to seconds (None: not reached)."""
        backend = backend or "none"
        self.turns.labels(kind, backend, outcome).inc()
        if outcome == "failed":
            self.failures.labels(kind, error or "internal").inc()
        if outcome == "blocked":
            self.guardrail.labels(backend).inc()
        stages = {stage: s for stage, s in (latency or {}).items() if stage in STAGES and s is not None}
        for stage, seconds in stages.items():
            self.latency.labels(kind, stage).observe(max(seconds, 0.0))
        for direction, count in (("in", tokens_in), ("out", tokens_out)):
            if count:
                self.tokens.labels(backend, direction).inc(count)
        if self.emf:
            self._emit_turn(kind, backend, outcome, error, stages, tokens_in, tokens_out)

    def record_ack(self, seconds: float, status: int) -> None:
        """Count one answered POST /api/messages by status class (`2xx`, `4xx`, ...) and time the accepted ones
        (latency stage `ack`: from the request's arrival to the acknowledgement)."""
        self.requests.labels(f"{status // 100}xx").inc()
        if 200 <= status < 300:
            self.latency.labels("http", "ack").observe(max(seconds, 0.0))
        if self.emf:
            self._emit(
                {"status": f"{status // 100}xx"},
                [("Requests", "Count", 1), ("Latency_ack", "Milliseconds", seconds * 1000)],
            )

    def record_dead_letter(self, kind: str) -> None:
        """Count one job given up (dead-lettered) after its last attempt."""
        self.dead_letters.labels(kind).inc()
        if self.emf:
            self._emit({"kind": kind}, [("DeadLetteredJobs", "Count", 1)])

    def prometheus_text(self) -> tuple[bytes, str]:
        """Return (the metrics in Prometheus text format, its content type)."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def _emit_turn(
        self, kind: str, backend: str, outcome: str, error: str, stages: Mapping[str, float],
        tokens_in: int | None, tokens_out: int | None,
    ) -> None:  # fmt: skip
        values = [("Turns", "Count", 1)]
        values += [(f"Latency_{stage}", "Milliseconds", seconds * 1000) for stage, seconds in stages.items()]
        values += [(name, "Count", n) for name, n in (("TokensIn", tokens_in), ("TokensOut", tokens_out)) if n]
        if outcome == "blocked":
            values.append(("GuardrailInterventions", "Count", 1))
        self._emit({"kind": kind, "backend": backend, "outcome": outcome}, values)
        if outcome == "failed":
            self._emit({"kind": kind, "error": error or "internal"}, [("Failures", "Count", 1)])

    def _emit(self, dimensions: Mapping[str, str], values: list[tuple[str, str, float]]) -> None:
        from aws_lambda_powertools.metrics import EphemeralMetrics

        metrics = EphemeralMetrics(namespace=self.namespace, service=self.service)
        for name, value in dimensions.items():
            metrics.add_dimension(name=name, value=value)
        for name, unit, value in values:
            metrics.add_metric(name=name, unit=unit, value=value)
        try:
            metrics.flush_metrics()  # prints one JSON line to stdout, which CloudWatch Logs turns into metrics
        except Exception:  # noqa: BLE001 - metrics must never fail a turn
            log.warning("could not write embedded metrics", exc_info=True)
