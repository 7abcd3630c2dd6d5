"""Job queues: where the ingress puts jobs and workers take them from.

`InProcessQueue` runs jobs as asyncio tasks in the ingress's own process (`make run`, tests): in arrival order
within a conversation, concurrently across conversations. `SqsJobQueue` sends them to SQS FIFO queues (one for
chat, one for analytics) for the Lambda workers: `MessageGroupId` is the conversation key, so turns of one chat
still run in order across workers, and `MessageDeduplicationId` the idempotency key.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from handlers.jobs import MAX_JOB_BYTES, Job

log = logging.getLogger(__name__)


class QueueError(Exception):
    """The job could not be queued; the ingress releases its claim and asks the channel to retry."""


class JobQueue(Protocol):
    """Where the ingress hands jobs over."""

    async def submit(self, job: Job) -> None:
        """Queue the job and return once it is safely queued; raise QueueError otherwise."""

    async def close(self, timeout: float = 20.0) -> None:
        """Stop taking jobs; an in-process queue lets running jobs finish for up to `timeout` seconds."""


class InProcessQueue:
    """Runs jobs as asyncio tasks, at most `max_concurrent` at once, in arrival order within a conversation."""

    def __init__(self, run: Callable[[Job], Awaitable[Any]], max_concurrent: int = 32) -> None:
        self._run = run
        self._slots = asyncio.Semaphore(max_concurrent)
        self._tasks: set[asyncio.Task] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, int] = {}

    async def submit(self, job: Job) -> None:
        """Start the job in the background and return at once."""
        key = job.group_key
        self._waiting[key] = self._waiting.get(key, 0) + 1
        lock = self._locks.setdefault(key, asyncio.Lock())
        task = asyncio.get_running_loop().create_task(self._guarded(job, key, lock))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, job: Job, key: str, lock: asyncio.Lock) -> None:
        try:
            async with lock, self._slots:
                await self._run(job)
        except Exception:  # noqa: BLE001 - a job's own error policy failed; never kill the loop
            log.exception("job failed activity=%s conversation=%s", job.turn.id, job.turn.conversation.id)
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key]
                del self._locks[key]

    @property
    def pending(self) -> int:
        """Return how many jobs are running or waiting."""
        return len(self._tasks)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait up to `timeout` seconds for running jobs, then cancel what is left."""
        if not self._tasks:
            return
        done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("cancelled %d unfinished turn(s) at shutdown", len(pending))
            await asyncio.wait(pending, timeout=5)

    async def close(self, timeout: float = 20.0) -> None:
        """Let running jobs finish for up to `timeout` seconds, then cancel the rest."""
        await self.drain(timeout)


def _sqs_id(text: str) -> str:
    """SQS group and deduplication ids are at most 128 characters of a limited alphabet: use a digest."""
    return hashlib.sha256(text.encode()).hexdigest()


class SqsJobQueue:
    """Sends jobs to SQS FIFO queues, one URL per job kind (`chat`, `analytics`).

    `client` is a boto3 SQS client (made lazily from the default session when None)."""

    def __init__(self, queue_urls: Mapping[str, str], client: Any = None) -> None:
        self.queue_urls = dict(queue_urls)
        self._client = client

    def _send(self, job: Job) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        if self._client is None:
            import boto3

            self._client = boto3.client("sqs")
        url = self.queue_urls.get(job.kind)
        if not url:
            raise QueueError(f"no queue is configured for {job.kind} jobs")
        body = job.to_json()
        if len(body.encode()) > MAX_JOB_BYTES:
            raise QueueError(f"the job is {len(body.encode())} bytes, over the SQS limit of {MAX_JOB_BYTES}")
        try:
            self._client.send_message(
                QueueUrl=url, MessageBody=body, MessageGroupId=_sqs_id(job.group_key),
                MessageDeduplicationId=_sqs_id(job.idempotency_key),
            )  # fmt: skip
        except (BotoCoreError, ClientError) as error:
            raise QueueError(f"SQS refused the job: {type(error).__name__}") from None

    async def submit(self, job: Job) -> None:
        """Send the job to its kind's queue (boto3 is blocking: off the event loop)."""
        await asyncio.to_thread(self._send, job)

    async def close(self, timeout: float = 20.0) -> None:
        """Nothing to let finish: the jobs are in SQS."""
