"""Sentry error tracking, off unless SENTRY_DSN is set, and scrubbed: nothing a user wrote and no credential
leaves the process (see scrub.py for what is removed)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.aiohttp import AioHttpIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.utils import get_default_release

from services.observability.logs import on_lambda
from services.observability.scrub import REDACTED, register_secrets, scrub_data, scrub_text
from services.settings import REPO_ROOT, Settings

log = logging.getLogger(__name__)
PROJECT = "teams-ai-gateway"
# Written by the build (infra/stamp_release.py): a Lambda package has neither git nor pyproject.toml.
RELEASE_FILE = Path(__file__).resolve().with_name("release.txt")


# send_default_pii off, spelled the way sentry-sdk 2.x now wants it (passing both warns): no user identity,
# cookies, bodies, query strings or generative-AI inputs and outputs; frame variables stay, scrubbed below.
_DATA_COLLECTION: dict[str, Any] = {
    "user_info": False,
    "cookies": {"mode": "off"},
    "http_headers": {"request": {"mode": "denylist", "terms": ["forwarded", "-ip", "remote-", "via", "-user"]}},
    "http_bodies": [],
    "url_query_params": {"mode": "off"},
    "gen_ai": {"inputs": False, "outputs": False},
    "database_query_data": False,
    "queues": False,
    "stack_frame_variables": True,
}
_OBJECT_REPR = re.compile(r"^<[\w.]+ object at 0x[0-9a-f]+>$")


def release() -> str:
    """Return the release tag: SENTRY_RELEASE, else the one the build stamped into the package (RELEASE_FILE),
    else the checkout's git commit, else `teams-ai-gateway@<version in pyproject.toml>`."""
    if os.environ.get("SENTRY_RELEASE"):
        return os.environ["SENTRY_RELEASE"]
    try:
        stamped = RELEASE_FILE.read_text("utf-8").strip()
    except OSError:
        stamped = ""
    if stamped:
        return stamped
    found = get_default_release()  # SENTRY_RELEASE, then git, then CI variables
    if found:
        return found
    try:
        version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text("utf-8"))["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        version = "unknown"
    return f"{PROJECT}@{version}"


def init_sentry(settings: Settings, *, component: str, transport: Any = None) -> bool:
    """Start Sentry for `component` (`ingress`, `worker`, ...) when SENTRY_DSN is set; return whether it did.

    aiohttp integration always, AWS Lambda integration (with timeout warnings) on Lambda; log records at ERROR
    become events and lower ones breadcrumbs; traces only at SENTRY_TRACES_SAMPLE_RATE (0, the default, is off);
    no default PII, no request bodies, and every event and breadcrumb scrubbed. `transport` is for tests.
    """
    dsn = settings.sentry_dsn.get_secret_value()
    if not dsn:
        return False
    register_secrets(settings.microsoft_app_password.get_secret_value(), dsn)
    integrations: list[Any] = [LoggingIntegration(level=logging.INFO, event_level=logging.ERROR), AioHttpIntegration()]
    if on_lambda():
        from sentry_sdk.integrations.aws_lambda import AwsLambdaIntegration

        integrations.append(AwsLambdaIntegration(timeout_warning=True))
    sentry_sdk.init(
        dsn=dsn,
        environment=settings.sentry_environment,
        release=settings.sentry_release or release(),
        traces_sample_rate=settings.sentry_traces_sample_rate or None,
        data_collection=_DATA_COLLECTION,
        max_request_body_size="never",
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
        integrations=integrations,
        transport=transport,
    )
    sentry_sdk.set_tag("component", component)
    sentry_sdk.set_tag("backend", settings.backend)
    log.info("Sentry is on (environment %s, component %s)", settings.sentry_environment, component)
    return True


@contextlib.contextmanager
def tagged(tags: Mapping[str, object]) -> Iterator[None]:
    """Within the block, every Sentry event carries these tags (empty values are skipped). Yields None; a no-op
    when Sentry is off."""
    with sentry_sdk.new_scope() as scope:
        for key, value in tags.items():
            if value not in (None, ""):
                scope.set_tag(key, str(value))
        yield


@contextlib.contextmanager
def tag_turn_events(
    tags: Mapping[str, object],
    details: Callable[[], Mapping[str, object]],
    warning_for: tuple[type[BaseException], ...] = (),
) -> Iterator[None]:
    """Within the block, events carry `tags`, then `details()` (read when each event is sent) and
    `backend_request_id` when the exception chain has one; exceptions of `warning_for` types are warnings."""

    def processor(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
        found = event.setdefault("tags", {})
        for key, value in details().items():
            if value not in (None, ""):
                found[key] = str(value)
        error = (hint or {}).get("exc_info", (None, None))[1]
        if error is not None:
            request_id = backend_request_id(error)
            if request_id:
                found["backend_request_id"] = request_id
            if isinstance(error, warning_for):
                event["level"] = "warning"
        return event

    with tagged(tags), sentry_sdk.new_scope() as scope:
        scope.add_event_processor(processor)
        yield


def backend_request_id(error: BaseException) -> str:
    """Return the AWS request id in `error` or the exceptions it came from (botocore's ResponseMetadata), or ''."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        response = getattr(current, "response", None)
        if isinstance(response, dict):
            request_id = (response.get("ResponseMetadata") or {}).get("RequestId")
            if request_id:
                return str(request_id)
        current = current.__cause__ or current.__context__
    return ""


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the event with user content and credentials removed from its message, exception values, frame
    variables, breadcrumbs, request, tags, extra data, contexts and spans; the user block is dropped."""
    event.pop("user", None)
    if isinstance(event.get("message"), str):
        event["message"] = scrub_text(event["message"])
    entry = event.get("logentry")
    if isinstance(entry, dict):
        entry["message"] = scrub_text(str(entry.get("message") or ""))
        entry["params"] = [p if isinstance(p, int | float) else REDACTED for p in entry.get("params") or ()]
        if entry.get("formatted"):
            entry["formatted"] = scrub_text(str(entry["formatted"]))
    for block in ("exception", "threads"):
        for value in (event.get(block) or {}).get("values") or ():
            if isinstance(value.get("value"), str):
                value["value"] = scrub_text(value["value"])
            for frame in (value.get("stacktrace") or {}).get("frames") or ():
                if "vars" in frame:
                    frame["vars"] = _frame_vars(frame["vars"])
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("cookies", None)
        if request.get("data"):
            request["data"] = REDACTED
        for key in ("url", "query_string"):
            if isinstance(request.get(key), str):
                request[key] = scrub_text(request[key])
        for key in ("headers", "env"):
            if key in request:
                request[key] = scrub_data(request[key])
    for crumb in (event.get("breadcrumbs") or {}).get("values") or ():
        scrub_breadcrumb(crumb)
    for key in ("tags", "contexts"):
        if key in event:
            event[key] = scrub_data(event[key], by_key=False)  # our own keys: only the values are text
    if "extra" in event:
        event["extra"] = scrub_data(event["extra"])
    for span in event.get("spans") or ():
        if isinstance(span.get("description"), str):
            span["description"] = scrub_text(span["description"])
        if "data" in span:
            span["data"] = scrub_data(span["data"])
    return event


def scrub_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the breadcrumb with its message and data scrubbed."""
    if isinstance(crumb.get("message"), str):
        crumb["message"] = scrub_text(crumb["message"])
    if "data" in crumb:
        crumb["data"] = scrub_data(crumb["data"])
    return crumb


def _frame_vars(variables: Any) -> Any:
    """A frame's variables with every string shown only as its length: a local variable may hold anything
    (a file's rows, a prompt), and no pattern can tell. Numbers, booleans, None and bare object reprs stay."""
    if isinstance(variables, dict):
        return {key: _frame_vars(value) for key, value in variables.items()}
    if isinstance(variables, list):
        return [_frame_vars(value) for value in variables]
    if isinstance(variables, str) and not _OBJECT_REPR.match(variables):
        return f"[redacted: {len(variables)} characters]"
    return variables
