"""Routing and conversation logic on plain pydantic models; nothing here knows Bot Framework types."""
