"""Reading a blocking boto3 stream on a thread of its own, handed to the event loop item by item.

boto3 is synchronous: a stream read on the event loop would stop every other conversation while the agent
thinks. The agent backends read on a thread and pass each item through an asyncio queue; closing the async
generator (the user pressed Stop) stops the reader and closes the stream, on yet another thread because closing
can block inside a socket read. Also the backends' one boto3 client configuration. (A helper, not a backend:
the registry skips modules starting with `_`.)
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from botocore.config import Config
from botocore.exceptions import EndpointConnectionError, NoRegionError, ReadTimeoutError

from services.settings import SettingsError

log = logging.getLogger(__name__)

Reader = Callable[[Callable[[Any], None], threading.Event, Callable[[Any], None]], None]


def client_config(region: str | None, attempts: int, read_timeout: float) -> Config:
    """Return the botocore Config of a backend's client: standard retries up to `attempts` calls in all, 5 s to
    connect, `read_timeout` seconds to read."""
    return Config(
        region_name=region or None,
        retries={"mode": "standard", "total_max_attempts": attempts},
        connect_timeout=5,
        read_timeout=read_timeout,
        user_agent_extra="teams-ai-gateway",
    )


def make_client(service: str, config: Config, no_region: str) -> Any:
    """Return a boto3 client of `service`; SettingsError with the sentence `no_region` when no region is set."""
    import boto3

    try:
        return boto3.client(service, config=config)
    except NoRegionError:
        raise SettingsError(no_region) from None


def as_botocore(error: Exception) -> Exception:
    """botocore does not wrap failures while a response body or event stream is read: give them its types."""
    from urllib3.exceptions import HTTPError as Urllib3Error
    from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeout

    if isinstance(error, Urllib3ReadTimeout | TimeoutError):
        return ReadTimeoutError(endpoint_url=str(error))
    if isinstance(error, Urllib3Error | ConnectionError):
        return EndpointConnectionError(endpoint_url="the stream")
    return error


async def read_in_thread(read: Reader, name: str) -> AsyncIterator[Any]:
    """Yield what `read(emit, stop, hold)` emits on its own thread; raise what it raises (as botocore's types).

    `read` calls `emit(item)` for each item, checks `stop` between items, and calls `hold(stream)` with the
    stream to close when the consumer stops early."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    stop = threading.Event()
    held: list[Any] = []

    def put(kind: str, value: Any) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

    def run() -> None:
        try:
            read(lambda item: put("item", item), stop, held.append)
            put("end", None)
        except Exception as error:  # noqa: BLE001 - handed to the event loop, which raises it
            if not stop.is_set():
                put("error", as_botocore(error))

    threading.Thread(target=run, name=f"{name}-read", daemon=True).start()
    try:
        while True:
            kind, value = await queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        for stream in held:
            threading.Thread(target=_close_quietly, args=(stream,), name=f"{name}-close", daemon=True).start()


def _close_quietly(stream: Any) -> None:
    try:
        stream.close()
    except Exception:  # noqa: BLE001 - a half-read stream may fail to close; the connection is dropped anyway
        log.debug("closing a stopped stream failed", exc_info=True)
