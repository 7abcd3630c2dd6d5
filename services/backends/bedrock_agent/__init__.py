"""Amazon Bedrock Agents: InvokeAgent on an agent alias, return of control as a review (docs/bedrock-agent.md).

This module is what the registry imports: the backend itself, with boto3, is imported only when one is created.
"""

from __future__ import annotations

import re
from typing import Any

from services.backends.registry import BackendType


def _check(settings: Any) -> None:
    for name in ("bedrock_agent_id", "bedrock_agent_alias_id"):
        if not re.fullmatch(r"[0-9a-zA-Z]{10}", getattr(settings, name)):
            raise ValueError(
                f"{name.upper()}: required when BACKEND is bedrock-agent: the 10-character id (Bedrock console → "
                "Agents → the agent and its alias), not a name or ARN"
            )


def _create(settings: Any, store: Any, name: str) -> Any:
    from services.backends.bedrock_agent.backend import BedrockAgentBackend, BedrockAgentConfig

    return BedrockAgentBackend(BedrockAgentConfig.from_settings(settings), name=name)


BACKEND_TYPE = BackendType(
    name="bedrock-agent", create=_create, check=_check, teams_extras="handlers.bedrock_agent:register"
)
