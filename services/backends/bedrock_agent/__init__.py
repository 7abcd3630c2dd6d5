"""Amazon Bedrock Agents: InvokeAgent on an agent alias, return of control as a review (docs/bedrock-agent.md)."""

from services.backends.bedrock_agent.backend import BedrockAgentBackend, BedrockAgentConfig, explain, session_id_for

__all__ = ["BedrockAgentBackend", "BedrockAgentConfig", "explain", "session_id_for"]
