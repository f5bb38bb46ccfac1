"""What a call cost, when we know the model's list price.

Prices change and self-hosted models have none, so cost is ``None`` unless the model is in
this short table (list prices in USD per million input/output tokens, as published by the
vendors when this table was written) or the caller passes its own price. A wrong guess is
worse than an honest "unknown" in a run record.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    """USD per million tokens. Cached input is billed at its own rate: OpenAI reads a cached
    prompt prefix at a half or a quarter, Anthropic at a tenth and writes the cache at 1.25x;
    without a known rate it costs as plain input."""

    input_per_mtok: float
    output_per_mtok: float
    cache_read_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None

    def cost(
        self, input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0
    ) -> float:
        """The cost of an exchange; ``cache_read``/``cache_write`` are parts of ``input_tokens``."""
        cache_read = min(max(cache_read, 0), input_tokens)
        cache_write = min(max(cache_write, 0), input_tokens - cache_read)
        plain = input_tokens - cache_read - cache_write
        read_rate = self.cache_read_per_mtok
        write_rate = self.cache_write_per_mtok
        total = (
            plain * self.input_per_mtok
            + cache_read * (self.input_per_mtok if read_rate is None else read_rate)
            + cache_write * (self.input_per_mtok if write_rate is None else write_rate)
            + output_tokens * self.output_per_mtok
        )
        return round(total / 1e6, 6)


# Longest matching prefix wins, so "gpt-4o-mini" is not priced as "gpt-4o".
LIST_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "claude-3-5-haiku": Price(0.80, 4.00, 0.08, 1.00),
    "claude-3-haiku": Price(0.25, 1.25, 0.03, 0.30),
    "claude-3-5-sonnet": Price(3.00, 15.00, 0.30, 3.75),
    "claude-3-7-sonnet": Price(3.00, 15.00, 0.30, 3.75),
    "claude-sonnet-4": Price(3.00, 15.00, 0.30, 3.75),
    "claude-opus-4": Price(15.00, 75.00, 1.50, 18.75),
}


def price_for(model: str, table: dict[str, Price] | None = None) -> Price | None:
    """The list price of ``model`` (matched by longest known prefix), or None."""
    prices = LIST_PRICES if table is None else table
    best: str | None = None
    for prefix in prices:
        if model.startswith(prefix) and (best is None or len(prefix) > len(best)):
            best = prefix
    return prices[best] if best is not None else None


def cost_usd(
    model: str,
    input_tokens: int,
    output_tokens: int,
    price: Price | None = None,
    *,
    cache_read: int = 0,
    cache_write: int = 0,
) -> float | None:
    """Cost of one exchange: the explicit ``price`` if given, else the list price, else None."""
    chosen = price or price_for(model)
    if chosen is None:
        return None
    return chosen.cost(input_tokens, output_tokens, cache_read, cache_write)
