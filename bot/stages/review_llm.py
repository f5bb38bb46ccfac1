"""The code-review stage's ``llm`` engine, and the LLM side of ``/shunter explain`` / ``ask``.

The model sees the PR (title, body, compressed diff) as delimited data and may only answer
with findings in a fixed schema. Those findings are then held to the diff: a path that the
PR did not change or a line outside its hunks is dropped and counted, because a comment
there would be wrong (and GitHub rejects review comments off the diff). Nothing the model
says is executed or applied: it becomes ``Finding`` objects, and a suggested fix stays a
``suggestion`` a human may accept. The provider is injected, so this module imports no
HTTP client and the stage can be tested against any ``ChatProvider``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from bot.engines.llm.budget import CompressedDiff, compress_diff, estimate_tokens
from bot.engines.llm.endings import (
    DEFAULT_TOKENS_PER_RUN,
    UnusableAnswer,
    answer_tokens,
    failure_advice,
)
from bot.engines.llm.prompt_secrets import holds_secret_or_mask, masked_note
from bot.engines.llm.protocol import ChatProvider, Completion, Message
from bot.engines.llm.untrusted import data_rules, fence, neutralise, new_boundary
from bot.errors import EngineError, ShunterError
from bot.models import Finding, Severity, StageName, StageResult, fingerprint
from bot.policies.schema import LLMConfig
from bot.stages.context import StageContext
from bot.wording import path_code

log = logging.getLogger(__name__)

MAX_FINDINGS = 50
MAX_BODY_CHARS = 4000
ENGINE = "llm"
_SUMMARY_LIST_LIMIT = 200


class ModelFinding(BaseModel):
    """One finding as the model must return it."""

    model_config = ConfigDict(extra="ignore")

    path: str = Field(description="Path of a changed file, exactly as in its 'File:' header.")
    line: int = Field(description="Head-side line number shown in the left column of the diff.")
    end_line: int | None = Field(
        default=None, description="Last line of the range, if the problem spans lines."
    )
    severity: Severity = Field(
        description="error: a bug or vulnerability; warning: likely problem; notice: minor."
    )
    category: str = Field(
        description="One word: bug, security, performance, error-handling, concurrency, "
        "maintainability, readability, naming, docs, tests, style."
    )
    message: str = Field(description="What is wrong and why it matters, in one or two sentences.")
    suggestion: str | None = Field(
        default=None,
        description="Optional: the complete replacement code for lines line..end_line.",
    )


class ModelReview(BaseModel):
    """The whole structured answer of the review call."""

    model_config = ConfigDict(extra="ignore")

    findings: list[ModelFinding] = Field(default_factory=list)


REVIEW_INSTRUCTIONS = """You are a careful senior code reviewer. Review the changes of a pull \
request and report only real problems a reviewer would want fixed: bugs, security issues, \
error handling, concurrency, performance, unclear or misleading code. Do not praise, do not \
summarise, do not report style nits a formatter would fix.

The diff shows head-side line numbers in the left column; lines starting with + were added, \
lines with - were removed (and have no number). Cite a file by the path in its 'File:' header \
and a line by its number in the left column; only lines shown in the diff may be cited. \
Return an empty findings list when nothing is worth reporting."""


_SCHEMA_TOKENS = estimate_tokens(json.dumps(ModelReview.model_json_schema()))


@dataclass
class Screening:
    """What survived the diff checks, and how many findings were dropped for what reason."""

    findings: list[Finding] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    suggestions_dropped: int = 0
    suggestions_held_back: int = 0
    """Replacements holding a secret, or a mask from the prompt: committing either would
    publish the secret or break the line, so the finding says why it has no suggestion."""


_CATEGORY_CLEAN = re.compile(r"[^a-z0-9]+")


def rule_id_for(category: str) -> str:
    """``llm/<category>``, with the category reduced to a safe slug."""
    slug = _CATEGORY_CLEAN.sub("-", category.lower()).strip("-")[:32] or "general"
    return f"llm/{slug}"


def _line_text(ctx: StageContext, path: str, line: int) -> str:
    data = ctx.head.read(path)
    if data is None:
        return ""
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else ""


def screen_findings(review: ModelReview, ctx: StageContext, shown: set[str]) -> Screening:
    """Hold model findings to the diff: only changed, shown files and lines inside hunks."""
    result = Screening()
    seen: set[tuple[str, str, int, str]] = set()
    for item in review.findings:
        changed = ctx.changed(item.path)
        if changed is None or changed.status == "deleted":
            result.dropped["path not changed by the PR"] += 1
            continue
        if item.path not in shown:
            result.dropped["file not shown to the model"] += 1
            continue
        if item.line not in changed.diff_lines:
            result.dropped["line outside the diff"] += 1
            continue
        message = neutralise(item.message, limit=1500)
        if not message:
            result.dropped["empty message"] += 1
            continue
        end = item.end_line if item.end_line is not None else item.line
        suggestion = item.suggestion
        in_diff = end >= item.line and all(
            n in changed.diff_lines for n in range(item.line, end + 1)
        )
        if not in_diff:
            end = item.line
        if suggestion is not None and (not in_diff or "```" in suggestion):
            suggestion = None
            result.suggestions_dropped += 1
        held_back = suggestion is not None and holds_secret_or_mask(suggestion)
        if held_back:
            suggestion = None
            result.suggestions_held_back += 1
        rule = rule_id_for(item.category)
        key = (rule, item.path, item.line, message)
        if key in seen:
            result.dropped["duplicate"] += 1
            continue
        seen.add(key)
        if len(result.findings) >= MAX_FINDINGS:
            result.dropped["over the limit of findings"] += 1
            continue
        result.findings.append(
            Finding(
                stage=StageName.REVIEW,
                rule_id=rule,
                severity=item.severity,
                message=message,
                path=item.path,
                start_line=item.line,
                end_line=end,
                engine=ENGINE,
                suggestion=suggestion,
                suggestion_held_back=held_back,
                fingerprint=fingerprint(rule, item.path, _line_text(ctx, item.path, item.line)),
            )
        )
    return result


def _pr_block(ctx: StageContext, diff: CompressedDiff, tag: str) -> str:
    body = ctx.pr_body[:MAX_BODY_CHARS]
    if len(ctx.pr_body) > MAX_BODY_CHARS:
        body += "\n[... description clipped]"
    return "\n\n".join(
        [
            fence("PR TITLE", ctx.pr_title[:300], tag),
            fence("PR DESCRIPTION", body, tag),
            fence("DIFF", diff.text, tag),
        ]
    )


@dataclass(frozen=True)
class Budget:
    """How a run's token allowance is split: the answer, and a possible schema retry."""

    total: int
    output: int
    diff: int


def plan_budget(total: int, fixed_prompt_tokens: int) -> Budget:
    """Split ``total`` so that even a retried call (prompt sent twice) stays within it."""
    output = answer_tokens(total)
    diff = (total - 2 * output) // 2 - fixed_prompt_tokens
    return Budget(total=total, output=output, diff=max(diff, 0))


def _resolve_provider(
    provider: ChatProvider | None, llm: LLMConfig | None, env: Mapping[str, str] | None
) -> ChatProvider:
    if provider is not None:
        return provider
    from bot.engines.llm.factory import provider_from_config

    return provider_from_config(llm, os.environ if env is None else env)


def _neutral(
    ctx: StageContext,
    summary: str,
    note: str,
    metrics: dict[str, object],
    why: str = "the LLM engine failed",
) -> StageResult:
    """A neutral result; ``why`` goes in the check run's title ("Incomplete (why): ...")."""
    metrics["incomplete"] = why
    return StageResult(
        stage=StageName.REVIEW,
        head_sha=ctx.head_sha,
        summary=summary,
        notes=[note],
        metrics=metrics,
        neutral=True,
    )


def run(
    ctx: StageContext,
    provider: ChatProvider | None = None,
    *,
    llm: LLMConfig | None = None,
    env: Mapping[str, str] | None = None,
    max_tokens_per_run: int | None = None,
) -> StageResult:
    """Review ``ctx``'s diff with a model; failures become a neutral result with a note.

    The provider is ``provider`` when given, else built from ``llm`` (the repository's
    ``llm:`` config section), else from ``ctx.llm`` when the shell attached that section to
    the context — so the registry's one-argument ``run(ctx)`` call works too.
    """
    if provider is None and llm is None:
        attached = getattr(ctx, "llm", None)
        llm = attached if isinstance(attached, LLMConfig) else None
    total = max_tokens_per_run or (llm.max_tokens_per_run if llm else DEFAULT_TOKENS_PER_RUN)
    metrics: dict[str, object] = {"engine": ENGINE, "llm_budget_tokens": total}
    try:
        chat = _resolve_provider(provider, llm, env)
    except ShunterError as exc:
        note = f"LLM engine unavailable: {exc}"
        return _neutral(ctx, "LLM review did not run.", note, metrics, "the LLM engine is not available")

    tag = new_boundary()
    system = f"{REVIEW_INSTRUCTIONS}\n\n{data_rules(tag)}"
    empty = CompressedDiff(text="")
    fixed = (
        estimate_tokens(system)
        + estimate_tokens(_pr_block(ctx, empty, tag))
        + _SCHEMA_TOKENS  # the schema travels with the request (response_format or tool)
        + 64
    )
    budget = plan_budget(total, fixed)
    diff = compress_diff(ctx.files, budget.diff)
    metrics.update(
        llm_model=chat.model,
        llm_files_reviewed=len(diff.included),
        llm_files_clipped=list(diff.clipped),
        llm_files_left_out=diff.left_out_paths,
        llm_prompt_tokens_estimate=fixed + diff.tokens,
    )
    if not diff.included:
        summary = "LLM review: no reviewable text changes fit the token budget." + _left_out_md(
            diff
        )
        return StageResult(
            stage=StageName.REVIEW, head_sha=ctx.head_sha, summary=summary, metrics=metrics
        )
    if ctx.cancelled():
        return _neutral(
            ctx, "LLM review cancelled.", "cancelled before the model was called", metrics, "cancelled"
        )

    messages: list[Message] = [
        {"role": "system", "content": system},
        {
            "role": "user",
            "content": f"Review this pull request.\n\n{_pr_block(ctx, diff, tag)}",
        },
    ]
    try:
        completion = chat.complete(
            messages, schema=ModelReview, max_tokens=budget.output, temperature=0.0
        )
    except ShunterError as exc:
        if isinstance(exc, UnusableAnswer) and exc.spent is not None:  # paid for, so recorded
            _record_usage(metrics, exc.spent)
        advice, why = failure_advice(exc, total=total, output=budget.output)
        note = f"LLM engine failed: {exc}" + (f"; {advice}" if advice else "")
        return _neutral(ctx, "LLM review failed.", note, metrics, why)
    except Exception as exc:  # a provider bug must not take the worker down
        log.exception("llm review crashed")
        return _neutral(
            ctx, "LLM review failed.", f"LLM engine failed: {type(exc).__name__}", metrics
        )
    _record_usage(metrics, completion)
    review = completion.parsed
    if not isinstance(review, ModelReview):
        return _neutral(ctx, "LLM review failed.", "the model gave no structured answer", metrics)
    screening = screen_findings(review, ctx, set(diff.included))
    metrics.update(
        llm_findings_returned=len(review.findings),
        llm_findings_dropped=dict(screening.dropped),
        llm_suggestions_dropped=screening.suggestions_dropped,
        llm_suggestions_held_back=screening.suggestions_held_back,
    )
    notes = masked_note(completion.secrets_masked)
    cut_prompt = prompt_cut_note(completion, fixed + diff.tokens)
    if cut_prompt:
        notes.append(cut_prompt)
    if screening.dropped:
        detail = ", ".join(f"{n} {why}" for why, n in sorted(screening.dropped.items()))
        notes.append(f"Dropped {sum(screening.dropped.values())} model findings: {detail}.")
    if diff.left_out:
        notes.append(f"{len(diff.left_out)} changed files were not shown to the model.")
    summary = _summary(completion, screening, diff)
    if cut_prompt:
        summary = "The model saw only part of the pull request (see the notes).\n\n" + summary
        metrics["incomplete"] = "the model saw only part of the PR"
    return StageResult(
        stage=StageName.REVIEW,
        head_sha=ctx.head_sha,
        findings=screening.findings,
        summary=summary,
        notes=notes,
        metrics=metrics,
        neutral=bool(cut_prompt),  # a partial review must not pass for a clean one
    )


def prompt_cut_note(completion: Completion, estimate: int) -> str:
    """A note when the server counted far fewer prompt tokens than were sent, else "".

    Ollama's OpenAI-compatible endpoint cuts a prompt longer than the model's context
    (num_ctx: 2048 or 4096 tokens unless the server or model sets more) without an error
    and reports the tokens it kept, so the model reviewed a fragment. The estimate counts
    four characters a token, fewer tokens than real tokenizers find in code, so half of it
    is a safe floor.
    """
    if not completion.usage_reported or estimate < 1024:
        return ""
    per_call = completion.input_tokens // max(completion.calls, 1)
    if per_call >= estimate // 2:
        return ""
    return (
        f"The server counted {per_call} prompt tokens for a prompt of about {estimate}: it "
        "probably cut the prompt to fit its context window, so the model reviewed only part "
        "of it. Give the model a larger context on the server (Ollama: OLLAMA_CONTEXT_LENGTH, "
        "or PARAMETER num_ctx in a Modelfile), or lower llm.max_tokens_per_run to about "
        "twice the context window (8192 for 4096)."
    )


def _record_usage(metrics: dict[str, object], completion: Completion) -> None:
    reported = completion.usage_reported
    metrics.update(
        llm_model=completion.model,
        llm_calls=completion.calls,
        # unknown, not 0, when the server left usage out
        llm_input_tokens=completion.input_tokens if reported else None,
        llm_output_tokens=completion.output_tokens if reported else None,
        llm_cost_usd=completion.cost_usd,
        llm_secrets_masked=completion.secrets_masked,
    )


def _left_out_md(diff: CompressedDiff) -> str:
    if not diff.left_out:
        return ""
    lines = ["", "", f"Files the model did not see ({len(diff.left_out)}):"]
    lines += [f"- {path_code(item.path)} ({item.reason})" for item in diff.left_out[:_SUMMARY_LIST_LIMIT]]
    if len(diff.left_out) > _SUMMARY_LIST_LIMIT:
        lines.append(f"- ... and {len(diff.left_out) - _SUMMARY_LIST_LIMIT} more")
    return "\n".join(lines)


def _summary(completion: Completion, screening: Screening, diff: CompressedDiff) -> str:
    cost = f", ${completion.cost_usd:.4f}" if completion.cost_usd is not None else ""
    spent = f"{completion.input_tokens} input + {completion.output_tokens} output tokens{cost}"
    if not completion.usage_reported:
        spent = "the server did not report its token use" + (
            cost if cost else ", so the cost is unknown"
        )
    head = f"LLM review by `{completion.model}`: {len(screening.findings)} findings ({spent})."
    parts = [head]
    if diff.clipped:
        parts.append(
            "Clipped to fit the token budget: " + ", ".join(f"`{p}`" for p in diff.clipped)
        )
    return "\n\n".join(parts) + _left_out_md(diff)


EXPLAIN_INSTRUCTIONS = """You explain code-review findings to the author of a pull request. \
Say why the reported problem matters, when it would bite, and how to fix it, in at most three \
short paragraphs of Markdown. If the finding looks wrong, say so plainly."""


def explain_finding(provider: ChatProvider, finding: Finding, code_excerpt: str) -> str:
    """A longer explanation of ``finding`` for ``/shunter explain``; raises ``EngineError``."""
    tag = new_boundary()
    details = (
        f"rule: {finding.rule_id}\nseverity: {finding.severity.value}\n"
        + (
            "where: the whole pull request\n"
            if finding.on_pull_request
            else f"file: {finding.path} lines {finding.start_line}-{finding.end_line}\n"
        )
        + f"message: {finding.message}"
    )
    messages: list[Message] = [
        {"role": "system", "content": f"{EXPLAIN_INSTRUCTIONS}\n\n{data_rules(tag)}"},
        {
            "role": "user",
            "content": "Explain this finding.\n\n"
            + fence("FINDING", details, tag)
            + "\n\n"
            + fence("CODE", code_excerpt[:8000], tag),
        },
    ]
    completion = provider.complete(messages, schema=None, max_tokens=800, temperature=0.2)
    text = neutralise(completion.text)
    if not text:
        raise EngineError("the model returned an empty explanation")
    return text


ASK_INSTRUCTIONS = """You answer a reviewer's question about a pull request, using only the \
pull request shown. Be concise and concrete; cite files and line numbers. If the answer is \
not in the material, say so."""


def answer_question(
    provider: ChatProvider,
    question: str,
    ctx: StageContext,
    *,
    max_tokens_per_run: int = DEFAULT_TOKENS_PER_RUN,
) -> str:
    """An answer to ``/shunter ask <question>`` about the PR in ``ctx``; raises ``EngineError``."""
    question = question.strip()[:2000]
    if not question:
        raise EngineError("there is no question to answer", hint="write `/shunter ask <question>`")
    tag = new_boundary()
    system = f"{ASK_INSTRUCTIONS}\n\n{data_rules(tag)}"
    empty = CompressedDiff(text="")
    fixed = estimate_tokens(system) + estimate_tokens(_pr_block(ctx, empty, tag) + question) + 64
    budget = plan_budget(max_tokens_per_run, fixed)
    diff = compress_diff(ctx.files, budget.diff)
    messages: list[Message] = [
        {"role": "system", "content": system},
        {
            "role": "user",
            "content": f"{_pr_block(ctx, diff, tag)}\n\nThe reviewer's question: {question}",
        },
    ]
    completion = provider.complete(
        messages, schema=None, max_tokens=min(budget.output, 1500), temperature=0.2
    )
    text = neutralise(completion.text)
    if not text:
        raise EngineError("the model returned an empty answer")
    if diff.left_out:
        text += "\n\n_Not seen by the model: " + ", ".join(diff.left_out_paths[:20])
        text += " …_" if len(diff.left_out) > 20 else "_"
    return text
