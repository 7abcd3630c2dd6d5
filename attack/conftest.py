"""The tests' fixtures (a bot on the fake connector) for the attack scripts run with pytest."""

from tests.conftest import _clean_environment, _no_analysis_progress, connector, make_settings, start_bot  # noqa: F401
