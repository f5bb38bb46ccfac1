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

DEFAULT_TOKENS_PER_RUN = 20_000
"""``llm.max_tokens_per_run`` when a repository does not set it."""
MAX_ANSWER_TOKENS = 4096
"""The most tokens any one answer is allowed (``max_tokens``), whatever the run's budget."""

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
            hint="the code or PR text sent may hold something the model will not work on; "
            "use the builtin engine for this pull request",
        )
    if ending.kind == "filtered":
        return AnswerRefused(
            f"the provider's content filter stopped the answer of {model!r} ({ending.field})",
            hint="the code or PR text sent trips the provider's filter; use the builtin engine "
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



def answer_tokens(tokens_per_run: int) -> int:
    """The ``max_tokens`` an answer gets from a run of ``tokens_per_run``: a fifth of it,
    at least 256 and at most ``MAX_ANSWER_TOKENS``."""
    return min(MAX_ANSWER_TOKENS, max(256, tokens_per_run // 5))


def cut_off_advice(total: int, output: int) -> str:
    """What to change when the answer was cut off at ``output`` tokens of a ``total`` run."""
    if output < MAX_ANSWER_TOKENS:
        return (
            f"raise llm.max_tokens_per_run (now {total}: the answer may use a fifth of it, "
            f"at most {MAX_ANSWER_TOKENS} tokens, which {MAX_ANSWER_TOKENS * 5} gives it)"
        )
    return (
        f"the answer already had the most Shunter gives it ({MAX_ANSWER_TOKENS} tokens): "
        "a reasoning model may spend them thinking; choose a model (or a setting) that "
        "thinks less, or the builtin engine"
    )


def context_advice(total: int) -> str:
    """What to change when the prompt and answer of a ``total``-token run do not fit the
    model's context window (the prompt takes about 3/10 of it, the answer 1/5)."""
    return (
        f"lower llm.max_tokens_per_run (now {total}) to the model's context window or less: "
        "the prompt and the answer are sized to fit it; or give the model a larger context "
        "on the server (Ollama: OLLAMA_CONTEXT_LENGTH or num_ctx; llama.cpp: --ctx-size)"
    )


def failure_advice(exc: Exception, *, total: int, output: int) -> tuple[str, str]:
    """What to tell the maintainer after a call failed with ``exc`` (or "" when the error
    says it all), and the failure's cause in a few words; ``total`` is the run's
    ``llm.max_tokens_per_run`` and ``output`` the ``max_tokens`` the answer was given.
    The review and test generation both read failures here, so they advise alike."""
    if isinstance(exc, AnswerCutOff) and exc.context_full:
        return context_advice(total), "the model's context window was full"
    if isinstance(exc, AnswerCutOff):
        return cut_off_advice(total, output), "the model's answer was cut off"
    if isinstance(exc, AnswerRefused):
        return "", "the model did not answer"
    if isinstance(exc, UnusableAnswer):
        return "", "the model's answer could not be used"
    if too_long_for_the_model(str(exc)):
        return context_advice(total), "too long for the model"
    return "", "the LLM engine failed"
