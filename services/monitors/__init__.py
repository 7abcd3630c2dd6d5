"""Monitors: scheduled drift and model checks (the model, its store, the schedule grammar)."""

from services.monitors.model import Floor, Monitor
from services.monitors.schedule import Schedule, ScheduleError, parse_schedule, resolve_placeholders
from services.monitors.store import MonitorStore, SQLiteMonitorStore

__all__ = [
    "Floor", "Monitor", "MonitorStore", "SQLiteMonitorStore", "Schedule", "ScheduleError", "parse_schedule",
    "resolve_placeholders",
]  # fmt: skip
