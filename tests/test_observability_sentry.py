"""Sentry: real sentry-sdk events sent over HTTP to a loopback DSN, and not one canary among them."""

from __future__ import annotations

import gzip
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk
from aiohttp import web

from services.observability import sensitive
from services.observability.sentry import init_sentry, release, tag_turn_events, tagged
from services.settings import BOT_SERVICE_HOSTS
from tests import observability_canaries as canary
from tests.observability_canaries import restore_logging  # noqa: F401 - a fixture, used by every test below

pytestmark = pytest.mark.usefixtures("restore_logging")


class SentryInbox:
    """A Sentry ingestion endpoint on 127.0.0.1 that keeps every envelope it receives, decompressed."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    data = gzip.decompress(data)
                elif self.headers.get("Content-Encoding") == "br":
                    import brotli  # only when sentry-sdk found brotli installed

                    data = brotli.decompress(data)
                inbox.bodies.append(data.decode("utf-8", "replace"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.server.server_address[1]}/42"

    def events(self) -> list[dict]:
        """Return the event items (errors and messages) of every envelope received."""
        found = []
        for body in self.bodies:
            lines = body.split("\n")
            for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                if json.loads(header).get("type") == "event":
                    found.append(json.loads(payload))
        return found


@pytest.fixture
def inbox() -> Iterator[SentryInbox]:
    box = SentryInbox()
    box.thread.start()
    yield box
    client = sentry_sdk.get_client()
    client.close(timeout=2)
    sentry_sdk.get_global_scope().set_client(None)
    box.server.shutdown()
    box.server.server_close()


@pytest.fixture
def sentry_on(inbox, make_settings, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", canary.AWS_SECRET)
    from services.observability import configure_logging

    configure_logging("DEBUG", "text")
    settings = make_settings(
        sentry_dsn=inbox.dsn,
        sentry_environment="test",
        microsoft_app_id="app-id",
        microsoft_app_password=canary.APP_PASSWORD,
    )
    assert init_sentry(settings, component="worker")
    return inbox


def _fail_with_everything_in_scope() -> None:
    text = canary.USER_TEXT  # noqa: F841 - frame variables are what Sentry shows
    question = f"Question(text={canary.USER_TEXT!r}, user_name={canary.USER_NAME!r})"  # noqa: F841
    headers = {"Authorization": canary.BEARER, "Content-Type": "application/json"}  # noqa: F841
    note = f"from {canary.EMAIL} with {canary.AWS_KEY_ID} / {canary.AWS_SECRET} password {canary.APP_PASSWORD}"  # noqa: F841
    url = canary.SIGNED_URL  # noqa: F841
    rows = canary.FILE_CONTENT  # noqa: F841
    raise ValueError(
        f"could not answer {canary.USER_TEXT!r} for {canary.USER_NAME} about {canary.FILE_NAME} ({canary.S3_URL})"
    )


def test_no_canary_reaches_sentry_from_exceptions_frames_breadcrumbs_and_logs(sentry_on):
    log = logging.getLogger("handlers.app")
    with (
        sensitive(canary.USER_TEXT, canary.USER_NAME, canary.FILE_NAME),
        tagged({"activity_id": "17", "reference": "1a2b3c4d"}),
    ):
        log.info("turn from %s: %s", canary.USER_NAME, canary.USER_TEXT)  # becomes a breadcrumb
        crumb = {"url": canary.S3_URL, "body": canary.FILE_CONTENT}
        sentry_sdk.add_breadcrumb(category="http", message=f"GET {canary.SIGNED_URL}", data=crumb)
        try:
            _fail_with_everything_in_scope()
        except ValueError as error:
            sentry_sdk.capture_exception(error)
        try:
            _fail_with_everything_in_scope()
        except ValueError:
            log.exception("turn failed for %s: %s", canary.USER_NAME, canary.EMAIL)  # the logging integration's event
        sentry_sdk.capture_message(f"plain message with {canary.BEARER} and {canary.USER_TEXT}")
    sentry_sdk.flush(timeout=5)
    events = sentry_on.events()
    assert len(events) == 3
    assert canary.leaks(sentry_on.bodies) == {}
    captured = events[0]
    assert captured["exception"]["values"][-1]["type"] == "ValueError"
    frame = captured["exception"]["values"][-1]["stacktrace"]["frames"][-1]
    assert frame["function"] == "_fail_with_everything_in_scope" and frame["vars"]["text"].startswith("[redacted")
    assert captured["tags"]["activity_id"] == "17" and captured["tags"]["reference"] == "1a2b3c4d"
    assert captured["environment"] == "test" and captured["release"] and captured["tags"]["component"] == "worker"
    assert "user" not in captured
    assert any(c.get("category") == "http" for c in captured["breadcrumbs"]["values"])


async def test_request_body_and_headers_never_reach_sentry(sentry_on, aiohttp_client):
    async def handler(request: web.Request) -> web.Response:
        body = await request.json()
        text = body["text"]  # noqa: F841 - a frame variable holding the user's text
        raise RuntimeError("cannot handle this activity")

    app = web.Application()
    app.router.add_post("/api/messages", handler)
    client = await aiohttp_client(app)
    response = await client.post(
        f"/api/messages?sig=CanaryTempAuthValue&from={canary.EMAIL}",
        json={
            "text": canary.USER_TEXT,
            "from": {"name": canary.USER_NAME},
            "attachments": [{"name": canary.FILE_NAME}],
        },
        headers={"Authorization": canary.BEARER, "Cookie": f"session={canary.APP_PASSWORD}"},
    )
    assert response.status == 500
    sentry_sdk.flush(timeout=5)
    (event,) = sentry_on.events()
    assert event["request"]["method"] == "POST"
    assert canary.leaks(sentry_on.bodies) == {}


def test_off_without_a_dsn(make_settings):
    assert not init_sentry(make_settings(), component="ingress")
    assert not sentry_sdk.is_initialized()


def test_traces_are_off_by_default(sentry_on):
    assert sentry_sdk.get_client().options["traces_sample_rate"] is None
    assert not sentry_sdk.get_client().should_send_default_pii()


def test_release_names_the_build(monkeypatch):
    monkeypatch.setenv("SENTRY_RELEASE", "gateway@abc1234")
    assert release() == "gateway@abc1234"


def test_the_release_setting_wins(inbox, make_settings):
    assert init_sentry(make_settings(sentry_dsn=inbox.dsn, sentry_release="gateway@from-settings"), component="worker")
    assert sentry_sdk.get_client().options["release"] == "gateway@from-settings"


def test_release_on_lambda_is_the_stamped_build_without_git_or_pyproject(monkeypatch, tmp_path):
    """A Lambda package has no git and no pyproject.toml: the build stamps the release into the package."""
    from infra import stamp_release
    from services.observability import sentry as sentry_module

    source = tmp_path / "source"  # a copy of the project that is not a git checkout
    source.mkdir()
    (source / "pyproject.toml").write_text('[project]\nname = "teams-ai-gateway"\nversion = "9.8.7"\n', "utf-8")
    package = tmp_path / "package"  # the built function: no pyproject.toml, no .git
    package.mkdir()
    stamped = package / "release.txt"
    assert stamp_release.main([str(stamped), "--root", str(source)]) == 0
    assert stamped.read_text("utf-8").strip() == "teams-ai-gateway@9.8.7"

    monkeypatch.delenv("SENTRY_RELEASE", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "no-binaries"))  # no git either
    monkeypatch.chdir(package)
    monkeypatch.setattr(sentry_module, "REPO_ROOT", package)
    monkeypatch.setattr(sentry_module, "RELEASE_FILE", stamped)
    assert release() == "teams-ai-gateway@9.8.7"
    stamped.unlink()
    assert release() == "teams-ai-gateway@unknown"  # what an unstamped package reported


def test_release_stamp_adds_the_git_commit_in_a_checkout():
    from infra import stamp_release
    from services.settings import REPO_ROOT

    found = stamp_release.build_release(REPO_ROOT)
    assert found.startswith("teams-ai-gateway@")
    if (REPO_ROOT / ".git").exists():
        assert "+" in found and len(found.rsplit("+", 1)[1]) >= 7


def test_every_package_build_stamps_the_release():
    from services.settings import REPO_ROOT

    for build in ("infra/build_lambda.sh", "infra/Dockerfile"):
        text = (REPO_ROOT / build).read_text("utf-8")
        assert "stamp_release.py" in text and "services/observability/release.txt" in text, build


def test_turn_events_carry_details_read_when_sent_and_user_mistakes_are_warnings(sentry_on):
    details = {"reference": ""}
    with tag_turn_events({"activity_id": "17"}, lambda: details, warning_for=(KeyError,)):
        details["reference"] = "abcd1234"  # known only once the turn failed
        for error in (KeyError("column"), RuntimeError("broken")):
            try:
                raise error
            except Exception as caught:  # noqa: BLE001
                sentry_sdk.capture_exception(caught)
    sentry_sdk.flush(timeout=5)
    mistake, failure = sentry_on.events()
    assert mistake["level"] == "warning" and failure["level"] == "error"
    assert failure["tags"]["reference"] == "abcd1234" and failure["tags"]["activity_id"] == "17"


def test_on_lambda_the_lambda_integration_warns_before_timeouts(inbox, make_settings, monkeypatch):
    from sentry_sdk.integrations.aws_lambda import AwsLambdaIntegration

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "gateway-chat-worker")
    on_lambda = make_settings(sentry_dsn=inbox.dsn, bot_service_hosts=list(BOT_SERVICE_HOSTS))  # no loopback there
    assert init_sentry(on_lambda, component="worker")
    integration = sentry_sdk.get_client().get_integration(AwsLambdaIntegration)
    assert integration is not None and integration.timeout_warning
