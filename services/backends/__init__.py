"""Answering backends behind one protocol (see `base.py`)."""

from services.backends.base import (
    AnswerEvent,
    Attachment,
    Backend,
    BackendError,
    Citation,
    CitationsFound,
    FinalAnswer,
    Identity,
    Question,
    SignInRequired,
    TextDelta,
    TokenUsage,
    UserTokens,
    collect_unfinished_usage,
    report_unfinished_usage,
)

__all__ = [
    "AnswerEvent", "Attachment", "Backend", "BackendError", "Citation", "CitationsFound", "FinalAnswer",
    "Identity", "Question", "SignInRequired", "TextDelta", "TokenUsage", "UserTokens", "collect_unfinished_usage",
    "create_backend", "report_unfinished_usage",
]  # fmt: skip


def create_backend(settings, store=None) -> Backend:
    """Return the backend named by `settings.backend`; `store` keeps per-user state some backends need."""
    if settings.backend == "local":
        from services.backends.local import LocalBackend
        from services.knowledge import KnowledgeIndex

        index_path = settings.state_db.parent / "knowledge.db"
        return LocalBackend(KnowledgeIndex(settings.knowledge_dir, index_path))
    if settings.backend == "bedrock":
        from services.backends.bedrock import BedrockBackend, BedrockConfig

        return BedrockBackend(BedrockConfig.from_settings(settings))
    if settings.backend == "qbusiness":
        from services.backends.qbusiness import QBusinessBackend, QBusinessConfig

        return QBusinessBackend(QBusinessConfig.from_settings(settings), store)
    if settings.backend == "agentcore":
        from services.backends.agentcore import AgentCoreBackend, AgentCoreConfig

        return AgentCoreBackend(AgentCoreConfig.from_settings(settings))
    if settings.backend == "bedrock-agent":
        from services.backends.bedrock_agent import BedrockAgentBackend, BedrockAgentConfig

        return BedrockAgentBackend(BedrockAgentConfig.from_settings(settings))
    raise ValueError(f"unknown backend {settings.backend!r}")
