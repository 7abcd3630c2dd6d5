"""The job: the one seam between an ingress and a worker.

An ingress turns an activity into a `Job` and puts it on a queue; a worker takes it off and answers. A job
is plain, versioned JSON (an SQS message body locally or on AWS) and carries references, never file bytes:
an SQS message is at most 256 KB, and an attachment is fetched by the worker from its download URL.
"""

from __future__ import annotations

import json
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticSerializationError

from handlers.catalog import JobKind, job_kind
from handlers.models import Turn

JOB_VERSION = 1
MAX_JOB_BYTES = 256 * 1024


class JobFormatError(ValueError):
    """A queue message is not a job this worker can read (malformed, or a version it does not know)."""


@dataclass(frozen=True)
class ConversationRef:
    """Where replies go: the channel's serviceUrl (validated against the token), the conversation, the activity
    replied to, and the audience of the bot's outgoing token."""

    service_url: str
    conversation_id: str
    activity_id: str = ""
    audience: str = ""


class MonitorRun(BaseModel):
    """A scheduled job's monitor and the run it stands for (epoch seconds of the due time)."""

    model_config = ConfigDict(frozen=True)

    monitor_id: str
    due: float


class Job(BaseModel):
    """A turn to answer and where the answer goes.

    `idempotency_key` names the store record that makes the answer happen once; `group_key` is the
    conversation key, so turns of one chat run in order (SQS FIFO MessageGroupId). `received_at` and
    `accepted_at` (epoch seconds, added in place in version 1: a job without them still parses) are when the
    ingress received the request and when it handed the job to the queue, right before its 200."""

    model_config = ConfigDict(frozen=True)

    version: Literal[1] = JOB_VERSION
    kind: JobKind | Literal["monitor"]
    idempotency_key: str
    group_key: str
    turn: Turn
    ref: ConversationRef
    received_at: float | None = None
    accepted_at: float | None = None
    monitor: MonitorRun | None = None  # kind `monitor`: a scheduled run with no inbound activity (issue 23)

    def waits(self, picked_up: float | None = None) -> tuple[float | None, float | None]:
        """Return (seconds from the ingress's receipt to its hand-over of the job, i.e. to the acknowledgement;
        seconds the job then waited for the worker that picked it up at `picked_up`, default now). None for
        what the job does not carry; never negative (the ingress's and the worker's clocks may differ)."""
        picked_up = time.time() if picked_up is None else picked_up
        ack = None
        if self.received_at is not None and self.accepted_at is not None:
            ack = max(0.0, self.accepted_at - self.received_at)
        queued = None if self.accepted_at is None else max(0.0, picked_up - self.accepted_at)
        return ack, queued

    def to_json(self) -> str:
        """Return the job as compact JSON (the queue message body). A lone surrogate in a text (which no UTF-8
        can carry: a hostile file name) becomes U+FFFD rather than failing the hand-over."""
        try:
            return self.model_dump_json()
        except PydanticSerializationError:
            text = json.dumps(self.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
            return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")

    @classmethod
    def from_json(cls, body: str | bytes) -> Job:
        """Return the job in a queue message body; raise JobFormatError when it is not one."""
        try:
            return cls.model_validate_json(body)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            raise JobFormatError(f"not a job (field '{where}': {first['msg']})") from None


def job_for(turn: Turn, ref: ConversationRef, idempotency_key: str, received_at: float | None = None) -> Job:
    """Return the job that answers `turn` into `ref`, on the worker its kind needs; `received_at` is when the
    ingress received the request (epoch seconds)."""
    kind = job_kind(turn)
    return Job(
        kind=kind,
        idempotency_key=idempotency_key,
        # Analyses keep their own order: a `stop` (a chat turn) must not wait behind the analysis it stops.
        group_key=turn.conversation.key if kind == "chat" else f"{turn.conversation.key}#analytics",
        turn=turn,
        ref=ref,
        received_at=received_at,
    )
