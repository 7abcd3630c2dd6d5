"""Progress of a running analysis, as short phrases ("testing column 7 of 31"): analyses call `report`, and
whoever runs them (the worker process of the chat, nothing on the command line) decides where it goes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_sink: Callable[[str], None] | None = None
_last = 0.0
EVERY_SECONDS = 0.5  # a loop may report every step: at most two phrases a second leave the process


def report(text: str, *, force: bool = False) -> None:
    """Pass `text` to the current sink (at most every EVERY_SECONDS unless `force`); nothing without one."""
    global _last
    if _sink is None:
        return
    now = time.monotonic()
    if force or now - _last >= EVERY_SECONDS:
        _last = now
        _sink(text)


@contextmanager
def reporting(sink: Callable[[str], None]) -> Iterator[None]:
    """Send the phrases reported inside the block to `sink`."""
    global _sink, _last
    previous, _sink = _sink, sink
    _last = 0.0  # a new sink hears the first phrase at once
    try:
        yield
    finally:
        _sink = previous


def rows_text(n: int) -> str:
    """Return a row count for people: 950, 12,400, 2.2 M."""
    return f"{n / 1e6:.1f} M" if n >= 1_000_000 else f"{n:,}"
