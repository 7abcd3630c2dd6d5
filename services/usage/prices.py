"""The price table: estimated US dollars per million tokens, per Bedrock model.

The defaults are Bedrock's on-demand list prices in us-east-1 (standard tier) as published when this
table was written; other regions, batch, provisioned throughput and negotiated discounts differ. Operators
override or extend them with a JSON file (`USAGE_PRICES_FILE`). A model missing from the table is counted
in tokens only: its cost is None, never a guess.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import BaseModel, ValidationError

from services.backends.base import TokenUsage
from services.settings import SettingsError


class Price(BaseModel):
    """US dollars per million tokens: uncached input, output, cache reads and cache writes; and US dollars per
    call (`call`), for agents that report no tokens (an AgentCore runtime is keyed by its runtime id, a Bedrock
    agent by `bedrock-agent/<agent id>`)."""

    input: float
    output: float
    cache_read: float = 0.0
    cache_write: float = 0.0
    call: float = 0.0


# Keys are model ids without the release date, version suffix and region prefix. A model id matches a key
# when, after it, the id holds nothing but a date and version (`-20250514-v1:0`, `-v1:0`, `:300k`); of the
# keys that match, the longest wins. Anything else after a key makes another model (`anthropic.claude-opus-4`
# does not price `anthropic.claude-opus-4-5-…`, nor `cohere.command-r` `cohere.command-r-plus-…`): without
# a key of its own such a model has no price, never the price of an older neighbour.
DEFAULT_PRICES: dict[str, Price] = {
    "anthropic.claude-3-haiku": Price(input=0.25, output=1.25),
    "anthropic.claude-3-5-haiku": Price(input=0.80, output=4.00, cache_read=0.08, cache_write=1.00),
    "anthropic.claude-haiku-4-5": Price(input=1.00, output=5.00, cache_read=0.10, cache_write=1.25),
    "anthropic.claude-3-5-sonnet": Price(input=3.00, output=15.00, cache_read=0.30, cache_write=3.75),
    "anthropic.claude-3-7-sonnet": Price(input=3.00, output=15.00, cache_read=0.30, cache_write=3.75),
    "anthropic.claude-sonnet-4": Price(input=3.00, output=15.00, cache_read=0.30, cache_write=3.75),
    "anthropic.claude-sonnet-4-5": Price(input=3.00, output=15.00, cache_read=0.30, cache_write=3.75),
    "anthropic.claude-opus-4": Price(input=15.00, output=75.00, cache_read=1.50, cache_write=18.75),
    "anthropic.claude-opus-4-1": Price(input=15.00, output=75.00, cache_read=1.50, cache_write=18.75),
    "anthropic.claude-opus-4-5": Price(input=5.00, output=25.00, cache_read=0.50, cache_write=6.25),
    "amazon.nova-micro": Price(input=0.035, output=0.14, cache_read=0.00875),
    "amazon.nova-lite": Price(input=0.06, output=0.24, cache_read=0.015),
    "amazon.nova-pro": Price(input=0.80, output=3.20, cache_read=0.20),
    "meta.llama3-1-8b-instruct": Price(input=0.22, output=0.22),
    "meta.llama3-1-70b-instruct": Price(input=0.72, output=0.72),
    "mistral.mistral-large-2402": Price(input=4.00, output=12.00),
}
_REGION_PREFIX = re.compile(r"^(us|eu|apac|jp|au|ca|us-gov|global)\.")
_RELEASE_SUFFIX = re.compile(r"(-\d{8})?(-v\d+)?(:[0-9a-z]+)*")  # what may follow a key: date, version, variant


def load_prices(path: Path | None) -> dict[str, Price]:
    """Return the default table updated with the JSON file at `path` (`{"model id": {"input": .., "output": ..,
    "cache_read": .., "cache_write": ..}}`, dollars per million tokens). Raises SettingsError naming the file."""
    table = dict(DEFAULT_PRICES)
    if path is None:
        return table
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("the file must hold one JSON object")
        table.update({str(model): Price.model_validate(value) for model, value in raw.items()})
    except (OSError, ValueError, ValidationError) as problem:
        first = problem.errors()[0]["msg"] if isinstance(problem, ValidationError) else str(problem).splitlines()[0]
        raise SettingsError(f"Invalid setting USAGE_PRICES_FILE: {path} is not a price table ({first})") from None
    return table


def price_for(model_id: str, table: dict[str, Price]) -> Price | None:
    """Return the price of `model_id` (a model id, inference profile id or ARN), or None when no key of the table
    names that very model (see DEFAULT_PRICES: a newer version is not priced as an older one)."""
    name = _REGION_PREFIX.sub("", model_id.rsplit("/", 1)[-1])
    matches = [key for key in table if name.startswith(key) and _RELEASE_SUFFIX.fullmatch(name[len(key) :])]
    return table[max(matches, key=len)] if matches else None


def cost_of(usage: TokenUsage, price: Price | None) -> float | None:
    """Return the estimated cost in US dollars of one call with `usage` at `price`, or None without a price."""
    if price is None:
        return None
    return (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_read_tokens * price.cache_read
        + usage.cache_write_tokens * price.cache_write
    ) / 1_000_000 + price.call
