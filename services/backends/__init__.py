"""Answering backends behind one protocol (see `base.py`)."""

from services.backends.base import (
    AnswerEvent,
    Attachment,
    AttachmentRules,
    Backend,
    BackendError,
    Capabilities,
    Citation,
    CitationsFound,
    FinalAnswer,
    Identity,
    Question,
    SignInRequired,
    SignsOut,
    TakesFeedback,
    TextDelta,
    TokenUsage,
    UserTokens,
    collect_unfinished_usage,
    report_unfinished_usage,
)

__all__ = [
    "AnswerEvent", "Attachment", "AttachmentRules", "Backend", "BackendError", "Capabilities", "Citation",
    "CitationsFound", "FinalAnswer", "Identity", "Question", "SignInRequired", "SignsOut", "TakesFeedback",
    "TextDelta", "TokenUsage", "UserTokens", "collect_unfinished_usage", "create_backend", "report_unfinished_usage",
]  # fmt: skip


def create_backend(settings, store=None) -> Backend:
    """Return the backend of the type `settings.backend` names (services/backends/registry.py); `store` keeps
    per-user state some backends need."""
    from services.backends.registry import create_named

    return create_named(settings.backend, settings, store)
