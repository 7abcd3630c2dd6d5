"""One scrubber for log lines and Sentry events: what users wrote and every credential become `[redacted]`.

Three layers, because no single one is enough:
- exact values: the secrets registered at start-up (the app password, AWS keys) and the values of the turns
  running now (their text, the users' names, file names), in every thread;
- patterns: bearer tokens, JWTs, AWS access key ids, `password=`-style pairs, e-mail addresses, signed URLs
  (and every SharePoint/OneDrive URL, whose path names the user and the file);
- structure: in mappings, and in JSON or Python reprs inside text, the values of keys that hold user content
  (`text`, `name`, `content`, `downloadUrl`, ...) or credentials.

Written here rather than taken from a library: sentry-sdk's EventScrubber only knows key names and nothing in
the logging world knows Bot Framework activities; this module is shared by both so the rules cannot drift.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

REDACTED = "[redacted]"

# Keys (lower case, without `_`, `-`, `.`) whose values are user content or credentials wherever they appear.
_CONTENT_KEYS = frozenset(
    "text name username fromname displayname givenname surname email mail upn userprincipalname content "
    "contenturl downloadurl body comment question prompt messages usermessage inputtext outputtext "
    "attachments files filename data value excerpt cookies httpquery querystring".split()
)
_CREDENTIAL_KEYS = frozenset(
    "token accesstoken idtoken refreshtoken sessiontoken securitytoken xamzsecuritytoken awssessiontoken "
    "bearertoken authtoken dsn sentrydsn".split()
)
_CREDENTIAL_PARTS = ("password", "passwd", "secret", "authorization", "cookie", "credential", "apikey", "signature")

# The same content keys as they are spelled inside JSON text or a repr (snake_case and camelCase).
_TEXT_KEYS = (
    r"text|name|user_?name|display_?name|content|content_?url|download_?url|comment|question|prompt|email|"
    r"user_?message|input_?text|output_?text|body"
)
_QUOTED = r"""(?:"(?:[^"\\]|\\.)*(?:"|$)|'(?:[^'\\]|\\.)*(?:'|$))"""  # an unclosed quote runs to the end
_URL = re.compile(r"""(?i)\b(https?://)([^\s/?#"'<>\\]+)([^\s"'<>\\]*)""")
_SIGNED_QUERY = re.compile(
    r"(?i)[?&](?:x-amz-(?:signature|credential|security-token)|signature|sig|tempauth|access_token|token|code|"
    r"sv|se|skoid|key)="
)
_USER_HOSTS = re.compile(r"(?i)(?:sharepoint|onedrive|1drv|sharepoint-df)\.")
_CREDENTIAL_WORDS = ("password", "passwd", "secret", "token", "authorization", "credential", "signature", "api")
# (cheap substrings of the lower-cased text that a match needs, the pattern, its replacement): the substring
# test skips most patterns on most lines, which is most of the cost of scrubbing. A pattern that starts with a
# run (`[\w-]*`, `[A-Za-z0-9._%+-]+`) may start only where the run starts (a lookbehind): else it restarts
# inside the run at every character and a long run costs quadratic time (tests/test_resource_exhaustion.py).
_RULES = [
    (('":', '" :'), re.compile(rf'(?i)("(?:{_TEXT_KEYS})"\s*:\s*){_QUOTED}'), r'\1"[redacted]"'),  # JSON
    (("':", "' :"), re.compile(rf"(?i)('(?:{_TEXT_KEYS})'\s*:\s*){_QUOTED}"), r"\1'[redacted]'"),  # dict repr
    (("='", '="'), re.compile(rf"(?i)\b((?:{_TEXT_KEYS})=){_QUOTED}"), r"\1'[redacted]'"),  # pydantic repr
    (("bearer", "basic"), re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]{6,}=*"), r"\1 [redacted]"),
    (
        ("?", "&"),
        re.compile(
            r"(?i)([?&](?:x-amz-(?:signature|credential|security-token)|signature|sig|tempauth|access_token|"
            r"token|code|key|sv|se|skoid|sktid|skt|ske|sks|skv)=)[^&\s\"'#]*"
        ),
        r"\1[redacted]",
    ),
    (("eyj",), re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)?"), REDACTED),
    (
        ("akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "aipa"),
        re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),
        REDACTED,
    ),
    (
        _CREDENTIAL_WORDS,
        re.compile(
            r"""(?i)(["']?(?<![\w-])[\w-]*(?:password|passwd|secret|token|authorization|credential|signature|api[_-]?key)"""
            r"""["']?\s*[:=]\s*)(?:"[^"]*"|'[^']*'|[^\s,;&'"}]+)"""
        ),
        r"\1[redacted]",
    ),
    # Teams conversation ids (`19:...@thread.v2`, `...@unq.gbl.spaces`) look like addresses but are not.
    (
        ("@",),
        re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@(?!thread\.|unq\.gbl\.)[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
        "[email]",
    ),
]
_MIN_EXACT = 4  # shorter values (e.g. "hi") would blank out ordinary words
_PREFIX = 48  # also match a long value's start, which is what survives truncation
_WORD = 12  # a value shorter than this counts only as a whole word ("Alex", not "Alexandria")
# Bounds on what one turn registers and on what a line costs: a value is read up to _MAX_VALUE characters and
# stands for at most _MAX_VARIANTS strings of at most _CHUNK characters each (a longer spelling is registered
# as consecutive chunks: a line quoting the whole value loses every full chunk); at most _MAX_RUNNING turns
# are remembered for lines written outside any turn; a line is scrubbed up to _MAX_LINE characters.
_MAX_VALUE = 64 * 1024
_CHUNK = 4096
_MAX_VARIANTS = 128
_MAX_RUNNING = 256
_MAX_LINE = 64 * 1024
_UNSCRUBBABLE = "[log text withheld: it could not be scrubbed]"

_secrets: tuple[str, ...] = ()
# The running turn's values, longest first, in the turn's own context (asyncio tasks and asyncio.to_thread
# inherit it). Lines written where no turn's context is (threads started by run_in_executor or botocore) are
# scrubbed with the values of every running turn, kept in `_running` (bounded, oldest dropped first).
_turn_values: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("scrub_turn_values", default=())
_running: dict[int, tuple[str, ...]] = {}
_running_union: tuple[str, ...] = ()
_running_lock = threading.Lock()


def register_secrets(*values: str | None) -> None:
    """Remember credentials (app password, AWS secret key, ...) to remove verbatim from every line and event.

    Empty values are ignored; registering again adds to the set. Returns None."""
    global _secrets
    _secrets = _longest_first({*_secrets, *(v for value in values if value for v in _variants(value))})


def forget_secrets() -> None:
    """Forget every registered secret (for tests). Returns None."""
    global _secrets
    _secrets = ()


@contextlib.contextmanager
def sensitive(*values: str | None) -> Iterator[None]:
    """While the block runs, also remove these exact values (a turn's text, the user's name, file names) from
    the block's lines and events (and from lines written outside any turn); forgotten when the block ends.

    Bounded: values are read up to 64 KB and become at most 128 strings (48 per value) of at most 4 KB;
    registering costs O(size) and builds no pattern. Call it only with what an authenticated request carried.
    Yields None."""
    global _running_union
    found: dict[str, None] = {}
    for value in values:
        if value and len(found) < _MAX_VARIANTS:
            found.update(dict.fromkeys(_variants(value[:_MAX_VALUE])))
    mine = _longest_first(list(found)[:_MAX_VARIANTS])
    token = _turn_values.set(_longest_first({*_turn_values.get(), *mine}))
    key = id(token)
    with _running_lock:
        if len(_running) >= _MAX_RUNNING:
            del _running[next(iter(_running))]
        _running[key] = mine
        _running_union = _longest_first({v for vs in _running.values() for v in vs})
    try:
        yield
    finally:
        _turn_values.reset(token)
        with _running_lock:
            _running.pop(key, None)
            _running_union = _longest_first({v for vs in _running.values() for v in vs})


def scrub_text(text: str) -> str:
    """Return `text` with secrets, running turns' values, credentials, addresses and user URLs replaced.

    Never raises: a line that cannot be scrubbed becomes a fixed sentence. Text past 64 KB is cut off (and
    says so). Every step is linear in the text's length (no pattern that backtracks over its input)."""
    if not text:
        return text
    try:
        return _scrub(text)
    except Exception:  # noqa: BLE001 - logging must never fail because of what a line contains
        return _UNSCRUBBABLE


def _scrub(text: str) -> str:
    if len(text) > _MAX_LINE:
        text = f"{text[:_MAX_LINE]}… [{len(text) - _MAX_LINE} more characters not logged]"
    turn = _turn_values.get() or _running_union
    for values in (_secrets, turn):
        for value in values:
            if value in text:
                text = _replace_words(text, value) if len(value) < _WORD else text.replace(value, REDACTED)
    lowered = text.lower()
    if "://" in lowered:
        text = _URL.sub(_scrub_url, text)
    for needles, pattern, replacement in _RULES:
        if any(needle in lowered for needle in needles):
            text = pattern.sub(replacement, text)
    return text


def _replace_words(text: str, value: str) -> str:
    """Return `text` with the occurrences of `value` that are whole words replaced (a short value such as a
    first name must not blank out the middle of a longer word). Plain string search, no pattern."""
    parts, position, start = [], 0, text.find(value)
    while start >= 0:
        end = start + len(value)
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if not (value[0].isalnum() and (before.isalnum() or before == "_")) and not (
            value[-1].isalnum() and (after.isalnum() or after == "_")
        ):
            parts += [text[position:start], REDACTED]
            position = end
        start = text.find(value, end if position == end else start + 1)
    return "".join([*parts, text[position:]])


def _longest_first(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(values, key=len, reverse=True))


def scrub_data(value: Any, *, by_key: bool = True, _depth: int = 0) -> Any:
    """Return a copy of `value` (mappings, lists, strings) with every string scrubbed and, when `by_key`, the
    values of sensitive keys (`text`, `Authorization`, ...) redacted; other scalars are returned as they are.
    Deeper than 12 levels becomes `[redacted]`."""
    if _depth > 12:
        return REDACTED
    if isinstance(value, Mapping):
        return {
            k: REDACTED
            if by_key and _sensitive_key(k) and v not in (None, "", [], {})
            else scrub_data(v, by_key=by_key, _depth=_depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub_data(item, by_key=by_key, _depth=_depth + 1) for item in value]
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, bytes | bytearray):
        return REDACTED
    return value


def is_sensitive_key(key: object) -> bool:
    """Return True when a mapping key's value is user content or a credential (e.g. `text`, `Authorization`)."""
    return _sensitive_key(key)


def _sensitive_key(key: object) -> bool:
    name = re.sub(r"[_\-. ]", "", str(key)[:200]).lower()
    return name in _CONTENT_KEYS or name in _CREDENTIAL_KEYS or any(part in name for part in _CREDENTIAL_PARTS)


def _scrub_url(match: re.Match[str]) -> str:
    scheme, host, rest = match.groups()
    if rest and (_SIGNED_QUERY.search(rest) or _USER_HOSTS.search(host)):
        return f"{scheme}{host}/{REDACTED}"
    return match.group(0)


def _variants(value: str) -> list[str]:
    """The spellings under which a value shows up in logs, most telling first: raw, JSON-escaped and
    repr-escaped (a spelling longer than 4 KB as consecutive 4 KB chunks, up to 32 KB), its start (what is left after
    truncation) and its first lines; at most 48."""
    value = value.strip()
    if len(value) < _MIN_EXACT:
        return []
    spellings = dict.fromkeys(
        [value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], repr(value)[1:-1]]
    )
    found = [s[:_CHUNK] for s in spellings] + [s[:_PREFIX] for s in spellings]
    lines = (line.strip() for line in value.splitlines())
    found += [line[:_CHUNK] for line, _ in zip((x for x in lines if len(x) >= _WORD), range(8), strict=False)]
    for spelling in spellings:
        found += [spelling[i : i + _CHUNK] for i in range(_CHUNK, min(len(spelling), 8 * _CHUNK), _CHUNK)]
    return [v for v in dict.fromkeys(found) if len(v) >= _MIN_EXACT][:48]
