"""The one exception analytics raise for bad input: its message is a sentence for the person who asked."""


class AnalyticsError(ValueError):
    """Input the analysis cannot use. `str(error)` says what is wrong and what to send instead."""
