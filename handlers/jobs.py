"""The job: the one seam between an ingress and a worker.

An ingress turns an activity into a `Job` and puts it on a queue; a worker takes it off and answers. A job
is plain, versioned JSON (an SQS message body locally or on AWS) and carries references, never file bytes:
an SQS message is at most 256 KB, and an attachment is fetched by the worker from its download URL.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.dataclasses import dataclass

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


class Job(BaseModel):
    """A turn to answer and where the answer goes.

    `idempotency_key` names the store record that makes the answer happen once; `group_key` is the
    conversation key, so turns of one chat run in order (SQS FIFO MessageGroupId)."""

    model_config = ConfigDict(frozen=True)

    version: Literal[1] = JOB_VERSION
    kind: JobKind
    idempotency_key: str
    group_key: str
    turn: Turn
    ref: ConversationRef

    def to_json(self) -> str:
        """Return the job as compact JSON (the queue message body)."""
        return self.model_dump_json()

    @classmethod
    def from_json(cls, body: str | bytes) -> Job:
        """Return the job in a queue message body; raise JobFormatError when it is not one."""
        try:
            return cls.model_validate_json(body)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            raise JobFormatError(f"not a job (field '{where}': {first['msg']})") from None


def job_for(turn: Turn, ref: ConversationRef, idempotency_key: str) -> Job:
    """Return the job that answers `turn` into `ref`, on the worker its kind needs."""
    return Job(
        kind=job_kind(turn), idempotency_key=idempotency_key, group_key=turn.conversation.key, turn=turn, ref=ref
    )
