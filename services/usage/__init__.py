"""Token accounting, budgets and the audit trail (see docs/usage.md). Nothing here knows about Teams."""

from services.usage.audit import AuditRecord
from services.usage.budgets import Limits
from services.usage.service import Admission, TurnUsage, UsageService, team_of, usage_service_from_settings

__all__ = ["Admission", "AuditRecord", "Limits", "TurnUsage", "UsageService", "team_of", "usage_service_from_settings"]
