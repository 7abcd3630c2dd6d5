"""Backends, state store and analytics: everything that knows nothing about Teams."""
