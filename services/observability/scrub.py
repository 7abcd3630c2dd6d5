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
import json
import re
import threading
from collections import Counter
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
# test skips most patterns on most lines, which is most of the cost of scrubbing.
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
    (("eyj",), re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)?"), REDACTED),
    (
        ("akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "aipa"),
        re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),
        REDACTED,
    ),
    (
        _CREDENTIAL_WORDS,
        re.compile(
            r"""(?i)(["']?\b[\w-]*(?:password|passwd|secret|token|authorization|credential|signature|api[_-]?key)"""
            r"""["']?\s*[:=]\s*)(?:"[^"]*"|'[^']*'|[^\s,;&'"}]+)"""
        ),
        r"\1[redacted]",
    ),
    # Teams conversation ids (`19:...@thread.v2`, `...@unq.gbl.spaces`) look like addresses but are not.
    (("@",), re.compile(r"[A-Za-z0-9._%+-]+@(?!thread\.|unq\.gbl\.)[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"), "[email]"),
]
_MIN_EXACT = 4  # shorter values (e.g. "hi") would blank out ordinary words
_PREFIX = 48  # also match a long value's start, which is what survives truncation

_secrets: set[str] = set()
_secrets_pattern: re.Pattern[str] | None = None
# The values of the turns running now, counted (turns may share a value), for every thread: botocore and
# run_in_executor log from threads that do not inherit a turn's context variables.
_turn_values: Counter[str] = Counter()
_turn_pattern: re.Pattern[str] | None = None
_turn_dirty = False
_turn_lock = threading.Lock()


def register_secrets(*values: str | None) -> None:
    """Remember credentials (app password, AWS secret key, ...) to remove verbatim from every line and event.

    Empty values are ignored; registering again adds to the set. Returns None.
    """
    global _secrets_pattern
    _secrets.update(v for value in values if value for v in _variants(value))
    _secrets_pattern = _exact_pattern(_secrets) if _secrets else None


def forget_secrets() -> None:
    """Forget every registered secret (for tests). Returns None."""
    global _secrets_pattern
    _secrets.clear()
    _secrets_pattern = None


@contextlib.contextmanager
def sensitive(*values: str | None) -> Iterator[None]:
    """While the block runs, also remove these exact values (a turn's text, the user's name, file names) from
    every line and event, in any thread; they are forgotten when the block ends. Yields None."""
    global _turn_dirty
    found = Counter({v for value in values if value for v in _variants(value)})
    with _turn_lock:
        _turn_values.update(found)
        _turn_dirty = True
    try:
        yield
    finally:
        with _turn_lock:
            _turn_values.subtract(found)
            for value in [v for v, n in _turn_values.items() if n <= 0]:
                del _turn_values[value]
            _turn_dirty = True


def _current_turn_pattern() -> re.Pattern[str] | None:
    """The pattern of the running turns' values, compiled again only when a line needs it after a change
    (turns starting and ending in a burst compile it once)."""
    global _turn_pattern, _turn_dirty
    if _turn_dirty:
        with _turn_lock:
            if _turn_dirty:
                _turn_pattern = _exact_pattern(_turn_values) if _turn_values else None
                _turn_dirty = False
    return _turn_pattern


def scrub_text(text: str) -> str:
    """Return `text` with secrets, running turns' values, credentials, addresses and user URLs replaced."""
    if not text:
        return text
    for pattern in (_secrets_pattern, _current_turn_pattern()):
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
    lowered = text.lower()
    if "://" in lowered:
        text = _URL.sub(_scrub_url, text)
    for needles, pattern, replacement in _RULES:
        if any(needle in lowered for needle in needles):
            text = pattern.sub(replacement, text)
    return text


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
    name = re.sub(r"[_\-. ]", "", str(key)).lower()
    return name in _CONTENT_KEYS or name in _CREDENTIAL_KEYS or any(part in name for part in _CREDENTIAL_PARTS)


def _scrub_url(match: re.Match[str]) -> str:
    scheme, host, rest = match.groups()
    if rest and (_SIGNED_QUERY.search(rest) or _USER_HOSTS.search(host)):
        return f"{scheme}{host}/{REDACTED}"
    return match.group(0)


def _variants(value: str) -> set[str]:
    """The spellings under which a value shows up in logs: raw, JSON-escaped, repr-escaped, line by line,
    and its start (what is left after truncation)."""
    value = value.strip()
    if len(value) < _MIN_EXACT:
        return set()
    found = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], repr(value)[1:-1]}
    found.update(line.strip() for line in value.splitlines() if len(line.strip()) >= 12)
    if len(value) > _PREFIX:
        found.update(v[:_PREFIX] for v in list(found))
    return {v for v in found if len(v) >= _MIN_EXACT}


def _exact_pattern(values: Iterable[str]) -> re.Pattern[str]:
    values = set(values)
    short = sorted((v for v in values if len(v) < 12), key=len, reverse=True)  # longest first
    parts = [_trie([v for v in values if len(v) >= 12])] if any(len(v) >= 12 for v in values) else []
    return re.compile("|".join(parts + [_bounded(v) for v in short]), re.IGNORECASE)


def _trie(words: list[str]) -> str:
    """One regex for many words, their common prefixes shared: Python's re tries the branches of a plain
    alternation one by one at every position, which made a line cost 30× more with 50 turns running."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = None  # a word ends here
    return _emit(root)


def _emit(node: dict[str, Any]) -> str:
    chain = []
    while len(node) == 1 and "" not in node:  # follow a run without branches iteratively
        ((char, node),) = node.items()
        chain.append(re.escape(char))
    branches = [re.escape(char) + _emit(child) for char, child in node.items() if char != ""]
    if not branches:
        return "".join(chain)
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return "".join(chain) + (f"(?:{body})?" if "" in node else body)  # greedy: the longer word wins


def _bounded(value: str) -> str:
    escaped = re.escape(value)
    if len(value) < 12:  # a short value counts only as a whole word ("Alex", not "Alexandria")
        escaped = (r"\b" if value[0].isalnum() else "") + escaped + (r"\b" if value[-1].isalnum() else "")
    return escaped
