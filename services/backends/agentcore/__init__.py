"""Amazon Bedrock AgentCore Runtime: any agent framework behind InvokeAgentRuntime (see docs/agentcore.md).

This module is what the registry imports (the ingress too, for `sign_in_connection`): the backend itself, with
boto3 and aiohttp, is imported only when one is created.
"""

from __future__ import annotations

import re
from typing import Any

from services.backends.registry import BackendType

RUNTIME_ARN = r"arn:aws[a-z-]*:bedrock-agentcore:[a-z0-9-]+:\d{12}:runtime/[a-zA-Z][a-zA-Z0-9_]{0,99}-[a-zA-Z0-9]{10}"


def _check(settings: Any) -> None:
    if not re.fullmatch(RUNTIME_ARN, settings.agentcore_runtime_arn):
        raise ValueError(
            "AGENTCORE_RUNTIME_ARN: required when BACKEND is agentcore: the agent runtime's ARN, like "
            "arn:aws:bedrock-agentcore:<region>:<account>:runtime/<name>-<id> (see docs/agentcore.md)"
        )
    if not re.fullmatch(r"[a-zA-Z0-9_-]{1,100}", settings.agentcore_qualifier):
        raise ValueError("AGENTCORE_QUALIFIER: must be an endpoint name of the runtime, like DEFAULT")
    if settings.agentcore_auth == "oauth" and not settings.agentcore_oauth_connection:
        raise ValueError(
            "AGENTCORE_OAUTH_CONNECTION: required when AGENTCORE_AUTH is oauth (the bot's OAuth connection "
            "whose Entra ID token the agent accepts, see docs/agentcore.md)"
        )


def _sign_in_connection(settings: Any) -> str:
    return settings.agentcore_oauth_connection if settings.agentcore_auth == "oauth" else ""


def _create(settings: Any, store: Any, name: str) -> Any:
    from services.backends.agentcore.backend import AgentCoreBackend, AgentCoreConfig

    return AgentCoreBackend(AgentCoreConfig.from_settings(settings), name=name)


BACKEND_TYPE = BackendType(name="agentcore", create=_create, check=_check, sign_in_connection=_sign_in_connection)
