"""Why a model stopped, read from each protocol's own field, and what the maintainer is told.

An answer cut off at ``max_tokens``, refused, or stopped by a content filter is not a model
that "failed to follow the schema": asked again with the same limit it is cut off again,
and an empty tool call cut short even validates as "no findings" (a clean review nobody
gave). So these endings end the call at once with an error naming the cause, instead of a
correction round and a "try a more capable model" that sends the maintainer the wrong way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from bot.engines.llm.protocol import Completion
from bot.engines.llm.untrusted import neutralise
from bot.errors import EngineError

EndingKind = Literal["complete", "cut_off", "context_full", "refused", "filtered"]

# finish_reason (OpenAI and the servers copying it) / stop_reason (Anthropic) -> kind
_OPENAI: dict[str, EndingKind] = {"length": "cut_off", "content_filter": "filtered"}
_ANTHROPIC: dict[str, EndingKind] = {
    "max_tokens": "cut_off",
    "model_context_window_exceeded": "context_full",
    "refusal": "refused",
}


@dataclass(frozen=True)
class Ending:
    """How one reply ended: ``field`` quotes the protocol's own words for the error."""

    kind: EndingKind = "complete"
    field: str = ""
    detail: str = ""
    """A refusal's text, or what the cut-off tokens were spent on."""


COMPLETE = Ending()


class UnusableAnswer(EngineError):
    """The service answered, and was paid, but the answer cannot be used.

    ``spent`` (set by the provider) holds the tokens and cost of every exchange the call
    took, so a failed review still records what it cost instead of nothing.
    """

    spent: Completion | None = None


class AnswerCutOff(UnusableAnswer):
    """The answer stopped before it was whole; ``max_tokens`` is the limit sent, and
    ``context_full`` says the server's context window ended it well before that limit."""

    def __init__(self, message: str, *, max_tokens: int, context_full: bool = False) -> None:
        super().__init__(message)
        self.max_tokens = max_tokens
        self.context_full = context_full


class AnswerRefused(UnusableAnswer):
    """The model or the provider's filter declined to answer; asking again will not help."""


def openai_ending(choice: dict[str, Any], message: dict[str, Any], answer: str) -> Ending:
    """The ending of a chat-completions choice: ``message.refusal``, else ``finish_reason``;
    ``answer`` is the content without its ``<think>`` block."""
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal.strip():
        return Ending("refused", "message.refusal", refusal)
    reason = choice.get("finish_reason")
    kind = _OPENAI.get(reason) if isinstance(reason, str) else None
    if kind is None:
        return COMPLETE
    reasoning = message.get("reasoning_content") or message.get("reasoning") or message.get("content")
    spent = "reasoning" if reasoning and not answer.strip() else ""
    return Ending(kind, f"finish_reason: {reason}", spent)


def anthropic_ending(data: dict[str, Any]) -> Ending:
    """The ending of a Messages API answer, from ``stop_reason``."""
    reason = data.get("stop_reason")
    kind = _ANTHROPIC.get(reason) if isinstance(reason, str) else None
    return COMPLETE if kind is None else Ending(kind, f"stop_reason: {reason}")


def ending_error(
    ending: Ending,
    *,
    model: str,
    max_tokens: int,
    structured: bool,
    output_tokens: int | None = None,
) -> UnusableAnswer | None:
    """The error to raise for ``ending``, or None when the answer may be used.

    A plain-text answer cut off at ``max_tokens`` is still worth showing (an explanation
    that stops early), so only a structured one counts as failed when cut off, or one that
    never got past its reasoning. ``output_tokens`` (when the server counted them) tells a
    cut at the limit from one where the server's context window filled first: Ollama and
    llama.cpp stop with ``finish_reason: length`` when prompt and answer reach num_ctx.
    """
    if ending.kind in ("cut_off", "context_full") and (structured or ending.detail):
        by_context = ending.kind == "context_full"
        if by_context or (output_tokens is not None and 0 < output_tokens < max_tokens * 9 // 10):
            when = (
                f"after {output_tokens} of the max_tokens={max_tokens} answer tokens"
                if output_tokens
                else "before its answer was complete"
            )
            return AnswerCutOff(
                f"the model {model!r} was cut off {when} ({ending.field}): the server's "
                "context window, which holds the prompt and the answer, was full",
                max_tokens=max_tokens,
                context_full=True,
            )
        spent = " (all of them spent reasoning, none on the answer)" if ending.detail else ""
        return AnswerCutOff(
            f"the model {model!r} was cut off at max_tokens={max_tokens}{spent} before its "
            f"answer was complete ({ending.field})",
            max_tokens=max_tokens,
        )
    if ending.kind == "refused":
        said = neutralise(ending.detail, limit=300) if ending.detail else ""
        return AnswerRefused(
            f"the model {model!r} refused to answer ({ending.field})"
            + (f": {said}" if said else ""),
            hint="the diff or PR text may hold something the model will not review; "
            "use the builtin engine for this pull request",
        )
    if ending.kind == "filtered":
        return AnswerRefused(
            f"the provider's content filter stopped the answer of {model!r} ({ending.field})",
            hint="the diff or PR text trips the provider's filter; use the builtin engine "
            "for this pull request, or a provider without that filter",
        )
    return None


# How servers say "prompt plus max_tokens is more than the model holds": OpenAI's
# context_length_exceeded and vLLM ("This model's maximum context length is 8192 tokens"),
# llama.cpp ("the request exceeds the available context size"), Anthropic ("prompt is too
# long"), LM Studio ("loaded with context length of only 4096 tokens").
_TOO_LONG = (
    "context length",
    "context_length",
    "context size",
    "context window",
    "context limit",  # Anthropic: "input length and `max_tokens` exceed context limit"
    "prompt is too long",
    "input is too long",
)


def too_long_for_the_model(error_text: str) -> bool:
    """Whether an error from the service says the request does not fit the model's context."""
    lowered = error_text.lower()
    return any(words in lowered for words in _TOO_LONG)

