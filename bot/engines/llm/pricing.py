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
    input_per_mtok: float
    output_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return round(
            (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6, 6
        )


# Longest matching prefix wins, so "gpt-4o-mini" is not priced as "gpt-4o".
LIST_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4.1": Price(2.00, 8.00),
    "claude-3-5-haiku": Price(0.80, 4.00),
    "claude-3-haiku": Price(0.25, 1.25),
    "claude-3-5-sonnet": Price(3.00, 15.00),
    "claude-3-7-sonnet": Price(3.00, 15.00),
    "claude-sonnet-4": Price(3.00, 15.00),
    "claude-opus-4": Price(15.00, 75.00),
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
    model: str, input_tokens: int, output_tokens: int, price: Price | None = None
) -> float | None:
    """Cost of one exchange: the explicit ``price`` if given, else the list price, else None."""
    chosen = price or price_for(model)
    return chosen.cost(input_tokens, output_tokens) if chosen else None
