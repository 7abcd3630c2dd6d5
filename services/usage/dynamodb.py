"""Usage store on DynamoDB (`USAGE_TABLE`): atomic `ADD` updates, budget reservations by conditional writes.

One table, string keys `pk` and `sk`, TTL attribute `expires_at`:
- daily tallies: pk `usage#<day>`, sk `<dimension>#<key>`; the four rows of a turn in one transaction;
- budget counters: pk `budget#<scope>`, sk `<period>`; a reservation adds to `held_tokens` / `held_cost`
  only while they are under the limit (a condition on the same write), so two concurrent turns of one
  user cannot both start past a limit.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from botocore.exceptions import ClientError

from services.aws_clients import turn_path_client
from services.usage.store import COUNTERS, Balance, Dimension, Hold, Tally, UsageRow


def create_usage_table(client: Any, name: str) -> None:
    """Create the usage table (on-demand, TTL on `expires_at`) and wait for it: for tests and local tooling;
    deployments create it in the SAM template."""
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in ("pk", "sk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name)
    client.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


class DynamoDBUsageStore:
    """UsageStore on one DynamoDB table."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.client = client or turn_path_client("dynamodb")  # short timeouts: budgets are on the turn's path

    def _budget_key(self, hold: Hold) -> dict[str, Any]:
        return {"pk": {"S": f"budget#{hold.scope}"}, "sk": {"S": hold.period}}

    async def add(self, day: str, keys: dict[Dimension, str], tally: Tally) -> None:
        names = {f"#{i}": name for i, name in enumerate(COUNTERS)}
        values = {f":{i}": _n(getattr(tally, name)) for i, name in enumerate(COUNTERS)}
        expression = "ADD " + ", ".join(f"#{i} :{i}" for i in range(len(COUNTERS)))
        items = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": {"pk": {"S": f"usage#{day}"}, "sk": {"S": f"{dimension}#{key}"}},
                    "UpdateExpression": expression,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
            for dimension, key in keys.items()
        ]
        await asyncio.to_thread(self.client.transact_write_items, TransactItems=items)

    async def reserve(self, holds: list[Hold]) -> Hold | None:
        if not holds:
            return None
        items = []
        for hold in holds:
            conditions, values = [], {":t": _n(hold.tokens), ":c": _n(hold.cost_micro), ":e": _n(hold.expires_at)}
            if hold.token_limit is not None:
                conditions.append("(attribute_not_exists(held_tokens) OR held_tokens < :tl)")
                values[":tl"] = _n(hold.token_limit)
            if hold.cost_limit_micro is not None:
                conditions.append("(attribute_not_exists(held_cost) OR held_cost < :cl)")
                values[":cl"] = _n(hold.cost_limit_micro)
            update = {
                "TableName": self.table,
                "Key": self._budget_key(hold),
                "UpdateExpression": "ADD held_tokens :t, held_cost :c SET expires_at = :e",
                "ExpressionAttributeValues": values,
            }
            if conditions:
                update["ConditionExpression"] = " AND ".join(conditions)
            items.append({"Update": update})
        try:
            await asyncio.to_thread(self.client.transact_write_items, TransactItems=items)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            failed = [h for h, r in zip(holds, reasons, strict=False) if r.get("Code") == "ConditionalCheckFailed"]
            if failed:
                return failed[0]
            if reasons and any(r.get("Code") == "TransactionConflict" for r in reasons):
                return await self.reserve(holds)  # another turn wrote the same counter at that instant
            raise
        return None

    async def settle(self, holds: list[Hold], tokens: int, cost_micro: int) -> list[Balance]:
        balances = []
        for hold in holds:
            response = await asyncio.to_thread(
                self.client.update_item,
                TableName=self.table,
                Key=self._budget_key(hold),
                UpdateExpression="ADD held_tokens :t, held_cost :c",
                ExpressionAttributeValues={":t": _n(tokens - hold.tokens), ":c": _n(cost_micro - hold.cost_micro)},
                ReturnValues="ALL_NEW",
            )
            after = response.get("Attributes", {})
            held = (int(after.get(name, {"N": "0"})["N"]) for name in ("held_tokens", "held_cost"))
            balances.append(Balance(hold, *held))
        return balances

    async def mark_noted(self, hold: Hold) -> bool:
        try:
            await asyncio.to_thread(
                self.client.update_item,
                TableName=self.table,
                Key=self._budget_key(hold),
                UpdateExpression="SET noted = :yes",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(noted)",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    async def rows(self, first_day: str, last_day: str) -> list[UsageRow]:
        start, end = date.fromisoformat(first_day), date.fromisoformat(last_day)
        days = [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]
        found: list[UsageRow] = []
        for day in days:
            found.extend(await asyncio.to_thread(self._day_rows, day))
        return found

    def _day_rows(self, day: str) -> list[UsageRow]:
        rows = []
        paginator = self.client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"usage#{day}"}},
        )
        for page in pages:
            for item in page.get("Items", []):
                dimension, key = item["sk"]["S"].split("#", 1)
                tally = Tally(*(int(item.get(name, {"N": "0"})["N"]) for name in COUNTERS))
                rows.append(UsageRow(day, dimension, key, tally))  # type: ignore[arg-type]
        return rows

    async def close(self) -> None:
        return None
