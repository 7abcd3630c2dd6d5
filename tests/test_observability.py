"""Logs and metrics: the scrubber, JSON/text lines, quiet payload loggers, one line per turn, Prometheus and EMF."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest
from aiohttp import web

from services.observability import Metrics, configure_logging, hash_key, log_turn, scrub_data, scrub_text, sensitive
from services.observability.scrub import register_secrets
from tests.observability_canaries import (
    APP_PASSWORD,
    AWS_KEY_ID,
    AWS_SECRET,
    BEARER,
    EMAIL,
    FILE_CONTENT,
    FILE_NAME,
    JWT,
    S3_URL,
    SIGNED_URL,
    USER_NAME,
    USER_TEXT,
    leaks,
    restore_logging,  # noqa: F401 - a fixture, used by every test below
)

pytestmark = pytest.mark.usefixtures("restore_logging")


def test_patterns_remove_credentials_addresses_and_signed_urls():
    register_secrets(APP_PASSWORD, AWS_SECRET)
    line = (
        f"Authorization: {BEARER} token={JWT} password={APP_PASSWORD} key {AWS_KEY_ID} secret {AWS_SECRET} "
        f"from {EMAIL} fetched {SIGNED_URL} and {S3_URL}"
    )
    scrubbed = scrub_text(line)
    assert leaks([scrubbed]) == {}
    assert "https://contoso-my.sharepoint.com/[redacted]" in scrubbed
    assert "https://bucket.s3.amazonaws.com/[redacted]" in scrubbed


def test_ordinary_lines_and_teams_ids_are_kept():
    line = "turn answered ref=1a2b3c4d conversation=19:abc@thread.tacv2;messageid=17 tokens_in=12 https://example.com/a"
    assert scrub_text(line) == line


def test_user_content_inside_json_and_reprs_is_removed():
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": USER_TEXT}]}], "modelId": "m"})
    repr_line = f"Turn(id='1', text={USER_TEXT!r}, user=User(id='29:1', name={USER_NAME!r}))"
    dict_line = repr({"name": FILE_NAME, "downloadUrl": "https://x/y"})
    scrubbed = [scrub_text(body), scrub_text(repr_line), scrub_text(dict_line)]
    assert leaks(scrubbed) == {}
    assert '"modelId": "m"' in scrubbed[0] and "id='29:1'" in scrubbed[1]


def test_the_turns_own_values_are_removed_in_any_spelling_and_only_inside_the_turn():
    multiline = USER_TEXT + '\nsecond line with "quotes" and more words'
    with sensitive(multiline, USER_NAME, FILE_NAME):
        assert leaks([scrub_text(f"failed on {multiline!r} by {USER_NAME} reading {FILE_NAME}")]) == {}
        assert leaks([scrub_text(json.dumps({"q": multiline}))]) == {}
        assert leaks([scrub_text("cut: " + USER_TEXT[:50])]) == {}  # what truncation leaves
        with sensitive("another value"):
            assert "Wilberforce" not in scrub_text(USER_NAME) and "another" not in scrub_text("another value")
    assert scrub_text(USER_NAME) == USER_NAME


def test_short_values_only_match_whole_words():
    with sensitive("Alex"):
        assert scrub_text("Alex asked about Alexandria") == "[redacted] asked about Alexandria"
    with sensitive("hi"):  # too short to be told apart from ordinary text
        assert scrub_text("this chat") == "this chat"


def test_scrub_data_redacts_sensitive_keys_at_any_depth():
    data = {
        "headers": {"Authorization": BEARER, "X-Request-Id": "r-1"},
        "activity": {"text": USER_TEXT, "from": {"id": "29:1", "name": USER_NAME}},
        "attachments": [{"name": FILE_NAME, "content": FILE_CONTENT}],
        "count": 3,
        "raw": FILE_CONTENT.encode(),
    }
    scrubbed = scrub_data(data)
    assert leaks([json.dumps(scrubbed)]) == {}
    assert scrubbed["headers"]["X-Request-Id"] == "r-1" and scrubbed["count"] == 3
    assert scrubbed["activity"]["from"]["id"] == "29:1"


def _lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line]


def test_json_lines_are_scrubbed_at_every_level_including_tracebacks():
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream=stream, secrets=(APP_PASSWORD,))
    log = logging.getLogger("handlers.app")
    with sensitive(USER_TEXT, USER_NAME, FILE_NAME):
        log.debug("question from %s: %s", USER_NAME, USER_TEXT)
        log.info("fetching %s with %s", SIGNED_URL, BEARER)
        try:
            raise ValueError(f"cannot parse {FILE_NAME}: {USER_TEXT}")
        except ValueError:
            log.exception("turn failed ref=%s", "1a2b3c4d")
        log.warning("app password is %s", APP_PASSWORD)
    lines = _lines(stream)
    assert leaks(lines) == {}
    records = [json.loads(line) for line in lines]
    assert [r["level"] for r in records] == ["DEBUG", "INFO", "ERROR", "WARNING"]
    failed = records[2]
    assert failed["message"] == "turn failed ref=1a2b3c4d"
    assert failed["exception"]["type"] == "ValueError" and "Traceback" in failed["exception"]["traceback"]


def test_payload_loggers_stay_above_debug():
    stream = io.StringIO()
    configure_logging("DEBUG", "text", stream=stream)
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": USER_TEXT}]}]})
    for name in ("botocore.endpoint", "botocore.parsers", "urllib3.connectionpool", "aiohttp.access", "msrest.http"):
        logging.getLogger(name).debug("Making request with body %s", body)
    logging.getLogger("bot.gateway").debug("kept at debug")
    assert _lines(stream) and all("kept at debug" in line for line in _lines(stream))
    assert logging.getLogger("botocore").getEffectiveLevel() == logging.INFO


def test_payload_loggers_follow_a_higher_level():
    configure_logging("WARNING", "text", stream=io.StringIO())
    assert logging.getLogger("urllib3").getEffectiveLevel() == logging.WARNING


def test_one_turn_line_has_the_fields_and_no_text():
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    with sensitive(USER_TEXT):
        log_turn({
            "activity_id": "1700000000001", "conversation": hash_key("a:1xyz"), "kind": "chat", "command": "",
            "backend": "bedrock", "outcome": "answered", "reference": None, "ack_ms": 12,
            "first_text_ms": 800, "final_ms": 2400, "tokens_in": 120, "tokens_out": 300,
        })  # fmt: skip
    (line,) = _lines(stream)
    record = json.loads(line)
    assert record["logger"] == "gateway.turns" and record["message"] == "turn answered"
    assert record["conversation"] == hash_key("a:1xyz") and len(record["conversation"]) == 16
    assert record["tokens_out"] == 300 and "command" not in record and "reference" not in record


def test_text_format_is_readable():
    stream = io.StringIO()
    configure_logging("INFO", "text", stream=stream)
    log_turn({"activity_id": "17", "kind": "chat", "outcome": "failed", "reference": "1a2b3c4d"})
    (line,) = _lines(stream)
    assert line.endswith("INFO gateway.turns: turn failed activity_id=17 kind=chat outcome=failed reference=1a2b3c4d")


def test_auto_format_is_json_on_lambda_only(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "gateway-ingress")
    configure_logging("INFO", "auto", stream=stream)
    logging.getLogger("x").info("hello")
    assert json.loads(stream.getvalue())["message"] == "hello"


def test_on_lambda_each_line_is_written_once_as_json(monkeypatch):
    """The Lambda runtime's bootstrap leaves a handler of its own on the root logger: it is replaced."""

    class RuntimeHandler(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.lines: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.lines.append(record.getMessage())

    runtime = RuntimeHandler()
    logging.getLogger().addHandler(runtime)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "gateway-chat-worker")
    stream = io.StringIO()
    configure_logging("INFO", "auto", stream=stream)
    configure_logging("INFO", "auto", stream=stream)  # a second start (cold start, then the first invocation)
    logging.getLogger("x").info("hello once")
    assert runtime.lines == [] and runtime not in logging.getLogger().handlers
    (line,) = _lines(stream)
    assert json.loads(line)["message"] == "hello once"


def test_off_lambda_other_handlers_are_kept(monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    other = logging.NullHandler()
    logging.getLogger().addHandler(other)
    configure_logging("INFO", "text", stream=io.StringIO())
    assert other in logging.getLogger().handlers


async def test_a_malformed_request_is_one_warning_line_not_a_traceback():
    stream = io.StringIO()
    configure_logging("INFO", "text", stream=stream)
    app = web.Application()

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/healthz", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        for request in (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 5)
            writer.close()
            assert status.split()[1] in (b"400", b"431")
    finally:
        await runner.cleanup()
    lines = _lines(stream)
    assert len(lines) == 2 and "Traceback" not in stream.getvalue()
    assert all(" WARNING aiohttp.server: rejected a malformed HTTP request from 127.0.0.1: " in line for line in lines)
    assert "aaaa" not in stream.getvalue()


def test_prometheus_text_counts_turns_failures_latency_tokens_and_dead_letters():
    metrics = Metrics(emf=False)
    latency = {"ack": 0.01, "first_text": 0.8, "final": 2.4}
    metrics.record_turn(
        kind="chat", backend="bedrock", outcome="answered", latency=latency, tokens_in=120, tokens_out=300
    )
    metrics.record_turn(kind="chat", backend="bedrock", outcome="blocked", latency={"ack": 0.02, "final": None})
    metrics.record_turn(kind="analytics", backend="", outcome="failed", error="internal")
    metrics.record_dead_letter("chat")
    text, content_type = metrics.prometheus_text()
    text = text.decode()
    assert content_type.startswith("text/plain")
    assert 'gateway_turns_total{backend="bedrock",kind="chat",outcome="answered"} 1.0' in text
    assert 'gateway_turn_failures_total{error="internal",kind="analytics"} 1.0' in text
    assert 'gateway_turn_latency_seconds_count{kind="chat",stage="ack"} 2.0' in text
    assert 'gateway_turn_latency_seconds_count{kind="chat",stage="final"} 1.0' in text
    assert 'gateway_tokens_total{backend="bedrock",direction="out"} 300.0' in text
    assert 'gateway_guardrail_interventions_total{backend="bedrock"} 1.0' in text
    assert 'gateway_dead_lettered_jobs_total{kind="chat"} 1.0' in text


def test_embedded_metric_format_on_lambda(capsys):
    metrics = Metrics(emf=True, namespace="GatewayTest")
    metrics.record_turn(kind="chat", backend="local", outcome="failed", error="throttled",
                        latency={"ack": 0.05, "final": 1.5}, tokens_in=7)  # fmt: skip
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    turn, failure = records
    assert turn["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "GatewayTest"
    assert turn["Turns"] == [1.0] and turn["Latency_final"] == [1500.0] and turn["TokensIn"] == [7.0]
    assert (turn["kind"], turn["backend"], turn["outcome"]) == ("chat", "local", "failed")
    assert failure["Failures"] == [1.0] and failure["error"] == "throttled"


@pytest.mark.parametrize("value", ["", "a:1xyz"])
def test_hash_key_is_short_and_stable(value):
    assert hash_key(value) == hash_key(value) and len(hash_key(value)) == (16 if value else 0)


def test_observability_settings_are_checked_in_one_line(make_settings):
    from services.settings import SettingsError

    with pytest.raises(SettingsError) as bad_dsn:
        make_settings(sentry_dsn="not-a-dsn-secret-value")
    assert str(bad_dsn.value).startswith("Invalid setting SENTRY_DSN: must be the DSN")
    assert "secret-value" not in str(bad_dsn.value)
    with pytest.raises(SettingsError, match="SENTRY_TRACES_SAMPLE_RATE"):
        make_settings(sentry_traces_sample_rate=2)
    assert make_settings(log_format=" JSON ").log_format == "json"
    assert make_settings().sentry_traces_sample_rate == 0.0 and not make_settings().sentry_dsn.get_secret_value()
