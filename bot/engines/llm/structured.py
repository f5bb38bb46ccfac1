"""Structured output: pull JSON out of a model's reply and hold it to a pydantic schema.

Models wrap JSON in code fences, add a sentence before it, or miss a field. We accept the
first two, and for anything else tell the model exactly what was wrong and let it try once
more; a second failure is an ``EngineError`` the stage turns into a note, never a crash.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n(.*?)\n?```", re.DOTALL)
# DeepSeek-R1, Qwen3, QwQ served without a reasoning parser (Ollama's older versions,
# llama.cpp with --reasoning-format none, LM Studio) put their thinking before the answer;
# templates that open the tag in the prompt leave only the closing one.
_THINK = re.compile(r"\A\s*(?:<think>)?.*?</think>\s*", re.DOTALL)


class OutputMismatch(Exception):
    """The reply is not valid JSON for the schema; ``reason`` is what we tell the model."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def strip_reasoning(text: str) -> str:
    """``text`` without a leading ``<think>...</think>`` block, which is not the answer:
    it may hold braces (``{"findings": []}?``) that would be taken for the JSON, and it must
    not be published as an explanation. A reply that is all thinking becomes empty."""
    stripped = text.lstrip()
    if stripped.startswith("<think>") and "</think>" not in stripped:
        return ""  # cut off while thinking
    if stripped.startswith(("{", "```")) or "</think>" not in stripped:
        return text
    return _THINK.sub("", text, count=1)


def extract_json(text: str) -> Any:
    """The JSON value in ``text``: the whole text, a fenced block, or the outermost object."""
    candidates = [text.strip()]
    candidates += [match.group(1).strip() for match in _FENCE.finditer(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    first_error: json.JSONDecodeError | None = None
    for candidate in candidates:
        if not candidate:
            continue
        try:
            return json.loads(candidate)
        except json.JSONDecodeError as exc:
            first_error = first_error or exc
    detail = f" ({first_error.msg} at line {first_error.lineno})" if first_error else ""
    raise OutputMismatch(f"the reply was not valid JSON{detail}")


def _decoded(value: Any) -> Any:
    """``value``, or the list or object it spells when it is one as a JSON string."""
    if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return value
        return decoded if isinstance(decoded, list | dict) else value
    return value


def validate(schema: type[BaseModel], data: Any) -> BaseModel:
    """``data`` as an instance of ``schema``, or ``OutputMismatch`` listing the problems.

    An answer that does not fit as sent is tried once more with the whole answer, and each
    top-level field, that is a JSON string of a list or object read as what it spells:
    Claude sometimes writes a nested array as a string in a tool call (``"findings":
    "[{...}]"``), and gateways in front of it pass the tool input on as a string; asking
    again for that would cost a call to learn nothing.
    """
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        decoded = _decoded(data)
        if isinstance(decoded, dict):
            decoded = {key: _decoded(value) for key, value in decoded.items()}
        if decoded != data:
            try:
                return schema.model_validate(decoded)
            except ValidationError:
                pass
        problems = []
        for error in exc.errors()[:10]:
            where = ".".join(str(part) for part in error["loc"]) or "(top level)"
            problems.append(f"{where}: {error['msg']}")
        raise OutputMismatch("the JSON did not match the schema: " + "; ".join(problems)) from None


def parse_text(schema: type[BaseModel], text: str) -> BaseModel:
    return validate(schema, extract_json(text))


def json_schema_for(schema: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of ``schema`` as providers want it (an object at the top)."""
    return schema.model_json_schema()


def correction_text(reason: str) -> str:
    """What the model is told after a bad reply."""
    return (
        f"Your previous reply could not be used: {reason}. Reply again with only a JSON "
        "object that matches the required schema exactly, and nothing else."
    )
