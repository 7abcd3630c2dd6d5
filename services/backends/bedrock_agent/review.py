"""Return of control: what the agent asks to run becomes an action the user reviews, and the user's confirmed
values become the results the agent gets back.

The review card is the one the gateway shows for Amazon Q Business plugin actions (an Adaptive Card with the
fields, editable where allowed, Confirm and Cancel; only the asker may press; a second press does nothing), shown
by this backend's Teams extras (handlers/bedrock_agent.py). So `pending_of` returns that review's shape:
`{"kind": KIND, "id", "plugin_id", "plugin_type",
"separator", "fields": {name: {"label", "type", "required", "choices", "value", "order", "description"}}}`.

What goes back (`results_of`), per invocation input of the agent:
- `functionResult` (function-detail action groups) or `apiResult` (OpenAPI action groups, HTTP status 200),
  naming the same action group, function or API path and method;
- `confirmationState: CONFIRM` when the action group asked for the user's confirmation
  (`actionInvocationType` USER_CONFIRMATION or USER_CONFIRMATION_AND_RESULT);
- `responseBody` (TEXT, or application/json for APIs): `{"confirmed_by": "user", "parameters": {...}}` with the
  values as the user confirmed them. The gateway runs nothing itself: an agent whose action must do work gives
  it a Lambda function and asks for confirmation, or reads the confirmed parameters and acts on them.
"""

from __future__ import annotations

import json
from typing import Any

KIND = "agent_action_review"  # FinalAnswer.pending["kind"]: shown by handlers/bedrock_agent.py
MAX_FIELDS = 40
# The agent hands every value over as a string; an array (its JSON text) is edited as text, not shown read-only
# with the Q Business note about lists.
TYPES = {"string": "STRING", "number": "NUMBER", "integer": "NUMBER", "boolean": "BOOLEAN"}
CONFIRMING = {"USER_CONFIRMATION", "USER_CONFIRMATION_AND_RESULT"}


def _action_of(entry: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Return ("function" | "api", the invocation input) of one invocationInputs entry."""
    if "functionInvocationInput" in entry:
        return "function", entry["functionInvocationInput"] or {}
    return "api", entry.get("apiInvocationInput") or {}


def _parameters(kind: str, action: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the parameters of an action, with an API's request body properties after its parameters."""
    found = [p for p in action.get("parameters") or [] if isinstance(p, dict) and p.get("name")]
    if kind == "api":
        for content in ((action.get("requestBody") or {}).get("content") or {}).values():
            found += [dict(p, body=True) for p in (content or {}).get("properties") or [] if p.get("name")]
    return found


def _title(kind: str, action: dict[str, Any]) -> str:
    target = (
        action.get("function") if kind == "function" else f"{action.get('httpMethod', '')} {action.get('apiPath', '')}"
    )
    return f"{action.get('actionGroup', 'action')} › {str(target).strip()}"


def pending_of(control: dict[str, Any]) -> dict[str, Any]:
    """Return the action review for a `returnControl` event: one read-only line naming each action, then one
    field per parameter (at most MAX_FIELDS in all)."""
    fields: dict[str, dict[str, Any]] = {}
    titles = []
    for index, entry in enumerate(control.get("invocationInputs") or []):
        kind, action = _action_of(entry)
        title = _title(kind, action)
        titles.append(title)
        fields[f"a{index}"] = {
            "label": "Action", "type": "STRING", "required": False, "choices": [{"title": title, "value": title}],
            "value": title, "order": len(fields), "description": "",
        }  # fmt: skip
        for parameter in _parameters(kind, action):
            if len(fields) >= MAX_FIELDS:
                break
            fields[f"a{index}_{'b_' if parameter.get('body') else ''}{parameter['name']}"] = {
                "label": str(parameter["name"]), "type": TYPES.get(str(parameter.get("type", "")).lower(), "STRING"),
                "required": False, "choices": [], "value": parameter.get("value"), "order": len(fields),
                "description": "",
            }  # fmt: skip
    invocation = str(control.get("invocationId", ""))
    return {
        "kind": KIND, "id": invocation, "plugin_id": invocation, "separator": ".",
        "plugin_type": " and ".join(titles) or "the action", "fields": fields,
    }  # fmt: skip


def results_of(control: dict[str, Any], execution: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Return (the invocation id, returnControlInvocationResults) for the values the user confirmed
    (`execution["payload"]`: field name → {"value": ...}, as the review sends them)."""
    confirmed = execution.get("payload") or {}
    results = []
    for index, entry in enumerate(control.get("invocationInputs") or []):
        kind, action = _action_of(entry)
        values = {}
        for parameter in _parameters(kind, action):
            name = f"a{index}_{'b_' if parameter.get('body') else ''}{parameter['name']}"
            values[parameter["name"]] = (confirmed.get(name) or {}).get("value", parameter.get("value"))
        body = json.dumps({"confirmed_by": "user", "parameters": values}, ensure_ascii=False, default=str)
        result: dict[str, Any] = {"actionGroup": action.get("actionGroup", "")}
        if action.get("actionInvocationType") in CONFIRMING:
            result["confirmationState"] = "CONFIRM"
        if kind == "function":
            result |= {"function": action.get("function", ""), "responseBody": {"TEXT": {"body": body}}}
            results.append({"functionResult": result})
        else:
            result |= {
                "apiPath": action.get("apiPath", ""), "httpMethod": action.get("httpMethod", ""), "httpStatusCode": 200,
                "responseBody": {"application/json": {"body": body}},
            }  # fmt: skip
            results.append({"apiResult": result})
    return str(control.get("invocationId", "")), results
