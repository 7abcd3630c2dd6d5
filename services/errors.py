"""Errors every service shares, and the one way to read, log and retry an AWS error.

The ground floor of `services/`: it imports nothing from the gateway but the log scrubber, so backends,
identity, usage and stores can all use it without importing one another.

- `BackendError` / `SignInRequired`: a failure with a sentence safe to show to the user.
- `aws_error_code(exc)`: the lower-cased AWS error code of a botocore ClientError ('' for anything else).
- `describe_error(exc)`: what may go into a log line or an exception's detail: the type, the code and the
  message scrubbed (quoted text removed: AWS quotes the request's values, e.g. the user's question, in its
  messages) and cut short. Never log `str(exc)` of an AWS error.
- `Backoff`: the retry policy (retryable codes, exponential backoff, attempts, the turn's deadline).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from services.observability.scrub import REDACTED, scrub_text

MESSAGE_CHARS = 120  # the longest piece of an upstream error message that reaches a log line

# Quoted spans in an upstream message: AWS writes the request's values between quotes ("Value 'how do I …' at
# 'userMessage' failed to satisfy constraint"). An unclosed quote runs to the end.
# An apostrophe inside a word ("don't") opens nothing.
_QUOTED = re.compile(r"""(?<![A-Za-z])'[^']*(?:'(?![A-Za-z])|$)|"[^"]*(?:"|$)|`[^`]*(?:`|$)|[‘“«][^’”»]*(?:[’”»]|$)""")
# After these words AWS messages echo the request's content unquoted.
_ECHO = re.compile(r"(?i)\b(value|input|text|message|question|prompt|query|content|body)(\s*(?:at|of|:|=|is)\s*)\S.*")


class BackendError(Exception):
    """A backend failure with a sentence safe to show to the user (no internals). `detail` (for logs) must be
    safe too: build it with `describe_error`."""

    def __init__(self, user_message: str, *, detail: str = "") -> None:
        super().__init__(detail or user_message)
        self.user_message = user_message


class SignInRequired(BackendError):
    """The backend needs the user's own sign-in (none yet, or it expired): show the sign-in card."""


def _error_part(error: BaseException, key: str) -> str:
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return ""
    part = (response.get("Error") or {}).get(key, "")
    return part if isinstance(part, str) else ""


def aws_error_code(error: BaseException) -> str:
    """Return the lower-cased error code of an AWS ClientError (e.g. 'throttlingexception'), '' for any other
    exception."""
    return _error_part(error, "Code").lower()


def aws_error_message(error: BaseException) -> str:
    """Return the raw message of an AWS ClientError ('' for others), lower-cased, for classification only:
    never log it (use `describe_error`)."""
    return _error_part(error, "Message").lower()


def aws_http_status(error: BaseException) -> int:
    """Return the HTTP status of an AWS ClientError's response (0 when unknown)."""
    response = getattr(error, "response", None)
    try:
        return int(((response or {}).get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    except (TypeError, ValueError, AttributeError):
        return 0


def scrub_message(message: str, limit: int = MESSAGE_CHARS) -> str:
    """Return an upstream error message fit for a log: quoted spans and echoed values replaced by [redacted],
    credentials and e-mail addresses scrubbed, one line, at most `limit` characters."""
    text = " ".join(message.split())
    text = _QUOTED.sub(REDACTED, text)
    text = _ECHO.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = scrub_text(text)
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def describe_error(error: BaseException) -> str:
    """Return `Type code: scrubbed message` for logs and BackendError details: an AWS error by its code and a
    scrubbed, truncated message; any other error by its type and scrubbed, truncated text."""
    code = _error_part(error, "Code")
    if code:
        message = scrub_message(_error_part(error, "Message"))
        kind = code if type(error).__name__ == code else f"{type(error).__name__} {code}"
        return kind + (f": {message}" if message else "")
    message = scrub_message(str(error))
    return type(error).__name__ + (f": {message}" if message else "")


@dataclass(frozen=True)
class Backoff:
    """A retry policy: which error codes are worth another attempt and how long to wait before it.

    Written here rather than taken from botocore's retry handler because the gateway retries what botocore
    cannot see (an error event inside a stream, a whole chat turn) within the turn's own time budget."""

    retryable: frozenset[str]
    base: float = 0.5
    cap: float = 8.0
    max_attempts: int = 0  # 0: no limit but the deadline

    def delay(self, error: BaseException, attempt: int, deadline: float, *, floor: float = 0.0) -> float | None:
        """Return the seconds to wait before the attempt after `attempt` (1-based), or None when `error` is not
        retryable, the attempts are used up, or waiting (plus `floor`, the least time an attempt needs) would
        pass `deadline` (a time.monotonic() value)."""
        if aws_error_code(error) not in self.retryable:
            return None
        if self.max_attempts and attempt >= self.max_attempts:
            return None
        wait = min(self.cap, self.base * 2**attempt)
        if time.monotonic() + wait + floor >= deadline:
            return None
        return wait
