"""Amazon Bedrock AgentCore Runtime: any agent framework behind InvokeAgentRuntime (see docs/agentcore.md)."""

from services.backends.agentcore.backend import AgentCoreBackend, AgentCoreConfig, explain, session_id_for

__all__ = ["AgentCoreBackend", "AgentCoreConfig", "explain", "session_id_for"]
