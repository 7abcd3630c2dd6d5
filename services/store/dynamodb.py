"""DynamoDB store for the deployed gateway: one on-demand table, key `pk`, TTL attribute `ttl`.

Items by key prefix: `idem#` idempotency records, `conv#` conversation state with a version, `kv#` small
values, `feedback#` reactions. Every claim and every state write is one conditional write, so the same
guarantees as the SQLite store hold across Lambda containers. DynamoDB deletes expired items lazily (within
days), so every read also checks `expires_at` itself. boto3 blocks: calls run off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time
from typing import Any

from services.store.base import (
    COMPLETED,
    Acquired,
    Feedback,
    StateConflict,
    Status,
    StoreUnavailable,
    Versioned,
    next_arrival,
)

TTL_ATTRIBUTE = "ttl"  # the table's TimeToLiveSpecification in template.yaml names it (a test checks)
CONVERSATION_TTL_SECONDS = 90 * 24 * 3600  # a conversation untouched for 90 days is forgotten
_FEEDBACK_FIELDS = (
    "conversation_key", "answer_id", "user_id", "reaction", "comment", "backend", "backend_conversation_id",
    "model_id", "created_at",
)  # fmt: skip


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": repr(float(value)) if not float(value).is_integer() else str(int(value))}


class DynamoDBStore:
    """Store on one DynamoDB table. `client` is a boto3 DynamoDB client (made from the default session when None)."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        if client is None:  # short timeouts: a stalled table gets 503 before the channel gives up
            from services.aws_clients import turn_path_client

            client = turn_path_client("dynamodb")
        self._client = client
        from botocore.exceptions import BotoCoreError, ClientError

        self._client_error, self._botocore_error = ClientError, BotoCoreError

    async def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        method = getattr(self._client, operation)
        try:
            return await asyncio.to_thread(method, TableName=self.table, **kwargs)
        except Exception as error:
            if self._conditional_failure(error):
                raise
            # Throttling, an unreachable endpoint, a service error: StoreUnavailable (with the code only), which
            # the ingress answers with 503 + Retry-After and the worker fails its batch item with.
            code = error.response.get("Error", {}).get("Code", "") if isinstance(error, self._client_error) else ""
            if isinstance(error, self._client_error | self._botocore_error):
                raise StoreUnavailable(operation, code or type(error).__name__) from error
            raise

    def _conditional_failure(self, error: Exception) -> bool:
        return (
            isinstance(error, self._client_error)
            and error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
        )

    async def acquire(
        self, key: str, status: Status, lease_seconds: float, *, take_over: tuple[str, ...] = ()
    ) -> Acquired:
        now, owner = time.time(), secrets.token_hex(8)
        values = {":now": _n(now)} | {f":t{i}": _s(s) for i, s in enumerate(take_over)}
        condition = "attribute_not_exists(pk) OR expires_at <= :now"
        if take_over:
            condition += f" OR #s IN ({', '.join(f':t{i}' for i in range(len(take_over)))})"
        names = {"ExpressionAttributeNames": {"#s": "status"}} if take_over else {}
        item = {
            "pk": _s(f"idem#{key}"), "status": _s(status), "owner": _s(owner),
            "expires_at": _n(now + lease_seconds), TTL_ATTRIBUTE: _n(math.ceil(now + lease_seconds) + 3600),
        }  # fmt: skip
        try:
            answer = await self._call(
                "put_item", Item=item, ConditionExpression=condition, ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD", ReturnValuesOnConditionCheckFailure="ALL_OLD", **names,
            )  # fmt: skip
        except Exception as error:
            if not self._conditional_failure(error):
                raise
            old = error.response.get("Item") or (
                await self._call("get_item", Key={"pk": _s(f"idem#{key}")}, ConsistentRead=True)
            ).get("Item", {})
            return Acquired(False, old.get("status", {}).get("S", ""))
        old = answer.get("Attributes") or {}
        live = old and float(old["expires_at"]["N"]) > now
        return Acquired(True, old["status"]["S"] if live else "", owner)

    async def complete(self, key: str, ttl_seconds: int) -> None:
        now = time.time()
        item = {
            "pk": _s(f"idem#{key}"), "status": _s(COMPLETED), "owner": _s(""),
            "expires_at": _n(now + ttl_seconds), TTL_ATTRIBUTE: _n(math.ceil(now + ttl_seconds)),
        }  # fmt: skip
        await self._call("put_item", Item=item)

    async def release(self, key: str, owner: str) -> None:
        try:
            await self._call(
                "delete_item", Key={"pk": _s(f"idem#{key}")}, ConditionExpression="#o = :o AND #s <> :done",
                ExpressionAttributeNames={"#o": "owner", "#s": "status"},
                ExpressionAttributeValues={":o": _s(owner), ":done": _s(COMPLETED)},
            )  # fmt: skip
        except Exception as error:
            if not self._conditional_failure(error):
                raise

    async def take_token(self, key: str, per_second: float, burst: int) -> float:
        """One read and one conditional write (the bucket's value as read, or no item): a concurrent taker
        makes the write fail, and the bucket is read again. A failed write means another taker took a token, so
        after at most `burst` failures the bucket reads empty and the wait is returned: `burst + 1` attempts
        (capped) never refuse a token that was there."""
        pk = _s(f"bucket#{key}")
        for _ in range(min(burst, 31) + 1):
            now = time.time()
            item = (await self._call("get_item", Key={"pk": pk}, ConsistentRead=True)).get("Item")
            stored = float(item["tat"]["N"]) if item else None
            tat, wait = next_arrival(stored, now, per_second, burst)
            if wait:
                return wait
            condition: dict[str, Any] = (
                {"ConditionExpression": "tat = :old", "ExpressionAttributeValues": {":old": item["tat"]}}
                if item
                else {"ConditionExpression": "attribute_not_exists(pk)"}
            )
            new = {"pk": pk, "tat": _n(tat), TTL_ATTRIBUTE: _n(math.ceil(tat) + 3600)}
            try:
                await self._call("put_item", Item=new, **condition)
                return 0.0
            except Exception as error:
                if not self._conditional_failure(error):
                    raise
        return 1.0 / per_second

    async def load_conversation(self, key: str) -> Versioned:
        item = (await self._call("get_item", Key={"pk": _s(f"conv#{key}")}, ConsistentRead=True)).get("Item")
        if not item:
            return Versioned({}, 0)
        return Versioned(json.loads(item["state"]["S"]), int(item["version"]["N"]))

    async def save_conversation(self, key: str, state: dict[str, Any], *, version: int) -> int:
        item = {
            "pk": _s(f"conv#{key}"), "state": _s(json.dumps(state)), "version": _n(version + 1),
            TTL_ATTRIBUTE: _n(math.ceil(time.time()) + CONVERSATION_TTL_SECONDS),
        }  # fmt: skip
        if version == 0:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {"ConditionExpression": "version = :v", "ExpressionAttributeValues": {":v": _n(version)}}
        try:
            await self._call("put_item", Item=item, **condition)
        except Exception as error:
            if self._conditional_failure(error):
                raise StateConflict(key) from None
            raise
        return version + 1

    async def clear_conversation(self, key: str) -> None:
        await self._call("delete_item", Key={"pk": _s(f"conv#{key}")})

    async def get_value(self, key: str) -> dict[str, Any] | None:
        item = (await self._call("get_item", Key={"pk": _s(f"kv#{key}")}, ConsistentRead=True)).get("Item")
        if not item or ("expires_at" in item and float(item["expires_at"]["N"]) <= time.time()):
            return None
        return json.loads(item["value"]["S"])

    async def put_value(self, key: str, value: dict[str, Any], ttl_seconds: int | None = None) -> None:
        item = {"pk": _s(f"kv#{key}"), "value": _s(json.dumps(value))}
        if ttl_seconds is not None:
            expires = time.time() + ttl_seconds
            item |= {"expires_at": _n(expires), TTL_ATTRIBUTE: _n(math.ceil(expires))}
        await self._call("put_item", Item=item)

    async def delete_value(self, key: str) -> None:
        await self._call("delete_item", Key={"pk": _s(f"kv#{key}")})

    async def add_feedback(self, feedback: Feedback) -> None:
        data = feedback.model_dump(mode="json")
        item = {"pk": _s(f"feedback#{feedback.answer_id}#{feedback.user_id}")}
        item |= {name: _s(str(data[name])) for name in _FEEDBACK_FIELDS}
        await self._call("put_item", Item=item)

    async def list_feedback(self) -> list[Feedback]:
        rows, start = [], None
        while True:
            page = await self._call(
                "scan", FilterExpression="begins_with(pk, :p)", ExpressionAttributeValues={":p": _s("feedback#")},
                **({"ExclusiveStartKey": start} if start else {}),
            )  # fmt: skip
            rows += [Feedback(**{name: item[name]["S"] for name in _FEEDBACK_FIELDS}) for item in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                return sorted(rows, key=lambda f: f.created_at)

    async def close(self) -> None:
        """Nothing to release: the boto3 client is shared for the container's life."""
