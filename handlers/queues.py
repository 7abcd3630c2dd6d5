"""Job queues: where the ingress puts jobs and workers take them from.

`InProcessQueue` runs jobs as asyncio tasks in the ingress's own process (`make run`, tests): in arrival order
within a conversation, concurrently across conversations. `SqsJobQueue` sends them to SQS FIFO queues (one for
chat, one for analytics) for the Lambda workers: `MessageGroupId` is the conversation key, so turns of one chat
still run in order across workers, and `MessageDeduplicationId` the idempotency key.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from handlers.catalog import SLOW_DOWN_VERB
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


class QueueFull(QueueError):
    """The sender has as many turns waiting as MAX_QUEUED_TURNS_PER_USER allows."""


class JobTooLarge(QueueError):
    """The job is over the queue's message size: delivering the activity again cannot help (a 413, not a 503)."""


class JobJournal(Protocol):
    """Where a durable in-process queue keeps its jobs until they are answered (the SQLite store's `jobs`)."""

    def claim_journal(self) -> bool:
        """Return True when this process alone may resume the kept jobs."""

    async def add_job(self, key: str, body: str) -> bool:
        """Keep a job; return False when one with this key is kept already."""

    async def remove_job(self, key: str) -> None:
        """Forget a job."""

    async def pending_jobs(self) -> list[str]:
        """Return the kept jobs' bodies, oldest first."""


def fairness_key(job: Job) -> str:
    """Return who a job is fair-shared for: its sender (tenant and user id)."""
    return f"{job.turn.conversation.tenant_id}|{job.turn.user.id}"


class _Entry:
    __slots__ = ("job", "resumed", "user")

    def __init__(self, job: Job, resumed: bool) -> None:
        self.job, self.resumed, self.user = job, resumed, fairness_key(job)


class InProcessQueue:
    """Runs jobs as asyncio tasks, at most `max_concurrent` at once, in arrival order within a conversation and
    round-robin between senders (a user who sent 100 turns waits for them; another user's one turn runs at the
    next free slot, not after the 100), and no sender runs more than half the slots (so another sender's turn
    finds one free at once).

    With a `journal` (the SQLite store) the queue is durable: a job is kept before `submit` returns (so before
    the ingress acknowledges it) and forgotten when it is answered or given up; `start` resumes what a killed
    process left, taking over its `running` records (`resume` is called for those jobs instead of `run`). Only
    one process resumes a state file's jobs (a lock file): a second one runs without the journal.
    `max_waiting_per_user` bounds the turns one sender may have waiting (QueueFull beyond; 0: no bound)."""

    def __init__(
        self,
        run: Callable[[Job], Awaitable[Any]],
        max_concurrent: int = 32,
        *,
        journal: JobJournal | None = None,
        resume: Callable[[Job], Awaitable[Any]] | None = None,
        max_waiting_per_user: int = 0,
    ) -> None:
        self._run = run
        self._resume = resume or run
        self._max = max_concurrent
        self._journal = journal
        self._durable = False
        self._max_waiting = max_waiting_per_user
        self._tasks: set[asyncio.Task] = set()
        self._waiting: dict[str, collections.deque[_Entry]] = {}  # per sender, arrival order
        self._rotation: collections.deque[str] = collections.deque()  # senders with waiting jobs, round robin
        self._groups: dict[str, collections.deque[_Entry]] = {}  # per conversation, arrival order
        self._busy: set[str] = set()  # conversations with a running job
        self._running: collections.Counter[str] = collections.Counter()  # running jobs per sender
        self._per_sender = max(1, max_concurrent // 2)
        self._live: set[str] = set()  # idempotency keys waiting or running in this process
        self._idle = asyncio.Event()
        self._idle.set()
        self._started = False

    @property
    def durable(self) -> bool:
        """True when jobs survive a crash of this process (a journal this process holds)."""
        return self._durable

    async def start(self) -> int:
        """Claim the journal and resume the jobs it kept (a killed process's); return how many. Idempotent."""
        if self._started:
            return 0
        self._started = True
        if self._journal is None:
            return 0
        if not self._journal.claim_journal():
            log.warning("another server resumes this state file's jobs: this one keeps its queue in memory only")
            return 0
        self._durable = True
        resumed = 0
        for body in await self._journal.pending_jobs():
            try:
                job = Job.from_json(body)
            except ValueError as problem:
                log.error("a kept job cannot be read (%s): dropped", problem)
                continue
            if job.idempotency_key in self._live:
                continue
            self._enqueue(_Entry(job, resumed=True))
            resumed += 1
        if resumed:
            log.warning("resumed %d turn(s) a previous run of the server had not answered", resumed)
        return resumed

    async def submit(self, job: Job) -> None:
        """Keep the job (durable queue) and schedule it; return at once. Raises QueueFull when its sender has
        `max_waiting_per_user` turns waiting, QueueError when the journal cannot keep it."""
        if not self._started:
            await self.start()
        entry = _Entry(job, resumed=False)
        waiting = self._waiting.get(entry.user)
        notice = job.turn.kind == "action" and job.turn.verb == SLOW_DOWN_VERB  # once per window: not bounded
        # A monitor's scheduled run is no sender's flood (the tick sends one per monitor and due time, at most
        # 20 monitors a conversation): bounding it made a creator's 11th monitor due at 09:00 wait for ticks.
        scheduled = job.kind == "monitor"
        if (
            self._max_waiting
            and waiting is not None
            and len(waiting) >= self._max_waiting
            and not (notice or scheduled)
        ):
            raise QueueFull(f"{len(waiting)} turns of this sender are waiting")
        if self._durable and self._journal is not None:
            try:
                added = await self._journal.add_job(job.idempotency_key, job.to_json())
            except Exception as error:  # noqa: BLE001 - any store failure: the ingress answers 503
                raise QueueError(f"the job could not be kept: {type(error).__name__}") from None
            if not added and job.idempotency_key in self._live:
                return  # the same job is waiting or running here already
        if job.idempotency_key in self._live:
            return
        self._enqueue(entry)

    def _enqueue(self, entry: _Entry) -> None:
        self._live.add(entry.job.idempotency_key)
        self._idle.clear()
        if entry.user not in self._waiting:
            self._waiting[entry.user] = collections.deque()
            self._rotation.append(entry.user)
        self._waiting[entry.user].append(entry)
        self._groups.setdefault(entry.job.group_key, collections.deque()).append(entry)
        self._dispatch()

    def _next(self) -> _Entry | None:
        """Return the next job to start: the oldest startable job of the next sender in turn."""
        for _ in range(len(self._rotation)):
            user = self._rotation[0]
            self._rotation.rotate(-1)
            if self._running[user] >= self._per_sender:
                continue
            queue = self._waiting[user]
            for entry in queue:
                group = entry.job.group_key
                if group not in self._busy and self._groups[group][0] is entry:
                    queue.remove(entry)
                    self._groups[group].popleft()
                    if not self._groups[group]:
                        del self._groups[group]
                    if not queue:
                        del self._waiting[user]
                        self._rotation.remove(user)
                    return entry
        return None

    def _dispatch(self) -> None:
        while len(self._tasks) < self._max:
            entry = self._next()
            if entry is None:
                return
            self._busy.add(entry.job.group_key)
            self._running[entry.user] += 1
            task = asyncio.get_running_loop().create_task(self._guarded(entry))
            self._tasks.add(task)

    async def _guarded(self, entry: _Entry) -> None:
        job, finished = entry.job, False
        try:
            await (self._resume if entry.resumed else self._run)(job)
            finished = True
        except Exception:  # noqa: BLE001 - a job's own error policy failed; never kill the loop
            finished = True
            log.exception("job failed activity=%s conversation=%s", job.turn.id, job.turn.conversation.id)
        finally:
            # A job cut off (shutdown) stays kept: the next start resumes it.
            if finished and self._durable and self._journal is not None:
                try:
                    await self._journal.remove_job(job.idempotency_key)
                except Exception:  # noqa: BLE001 - a kept answered job is dropped as a duplicate when resumed
                    log.warning("could not forget answered job %s", job.turn.id, exc_info=True)
            self._tasks.discard(asyncio.current_task())  # type: ignore[arg-type]
            self._busy.discard(job.group_key)
            self._running[entry.user] -= 1
            if not self._running[entry.user]:
                del self._running[entry.user]
            self._live.discard(job.idempotency_key)
            self._dispatch()
            if not self._tasks and not self._waiting:
                self._idle.set()

    @property
    def pending(self) -> int:
        """Return how many jobs are running or waiting."""
        return len(self._tasks) + sum(len(queue) for queue in self._waiting.values())

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait up to `timeout` seconds for running and waiting jobs, then cancel what is left (a durable
        queue keeps the cancelled and the waiting jobs for the next start)."""
        if self._idle.is_set():
            return
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return
        except TimeoutError:
            pass
        waiting = sum(len(queue) for queue in self._waiting.values())
        self._waiting.clear()
        self._rotation.clear()
        self._groups.clear()
        pending = set(self._tasks)
        for task in pending:
            task.cancel()
        log.warning("cancelled %d unfinished turn(s) at shutdown; %d waiting turn(s) %s", len(pending), waiting,
                    "kept for the next start" if self._durable else "dropped")  # fmt: skip
        if pending:
            await asyncio.wait(pending, timeout=5)
        self._idle.set()

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

        if self._client is None:  # short timeouts: a stalled queue answers 503 before the channel gives up
            from services.aws_clients import turn_path_client

            self._client = turn_path_client("sqs")
        url = self.queue_urls.get(job.kind)
        if not url:
            raise QueueError(f"no queue is configured for {job.kind} jobs")
        body = job.to_json()
        if len(body.encode()) > MAX_JOB_BYTES:
            raise JobTooLarge(f"the job is {len(body.encode())} bytes, over the SQS limit of {MAX_JOB_BYTES}")
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
