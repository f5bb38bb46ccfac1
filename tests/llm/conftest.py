"""A local LLM server speaking OpenAI's chat-completions and Anthropic's messages protocols.

It runs on 127.0.0.1 in a background thread, checks every request the way the real
services would (headers, body shape, tool-call bookkeeping) and records any violation in
``protocol_errors`` (asserted empty after each test), and answers from a script with
realistic bodies, including ``usage``.
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bot.stages.context import ChangedFile, MemoryTree, StageContext

OPENAI_KEY = "sk-test-OPENAI-0123456789abcdefSECRET"
ANTHROPIC_KEY = "sk-ant-test-ANTHROPIC-0123456789SECRET"
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# a model's thinking, passed back unchanged in the assistant turn it came in
_THINKING = ("thinking", "redacted_thinking")
_ids = itertools.count(1)


@dataclass
class Scripted:
    """One scripted answer: a structured payload, plain text, or an HTTP error."""

    kind: str  # "structured" | "text" | "error" | "raw" | "cut"
    payload: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def structured(obj: Any) -> Scripted:
    return Scripted("structured", obj)


def text(value: str) -> Scripted:
    return Scripted("text", value)


def error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Scripted:
    return Scripted("error", body, status=status, headers=headers or {})


def raw(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Scripted:
    """A whole answer as a real server sent it: a dict goes as JSON, bytes or str as they are
    (give a content-type in ``headers`` for those)."""
    return Scripted("raw", body, status=status, headers=headers or {})


def cut(body: Any) -> Scripted:
    """An answer whose connection closes half-way through the body it announced."""
    return Scripted("cut", body)


def openai_answer(
    content: str | None,
    *,
    finish_reason: str = "stop",
    usage: Any = "default",
    model: str = "gpt-4o-mini",
    **message: Any,
) -> dict[str, Any]:
    """A chat-completions body; ``message`` adds fields (refusal, reasoning_content, ...)."""
    body: dict[str, Any] = {
        "id": f"chatcmpl-{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, **message},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
    }
    if usage == "default":
        body["usage"] = {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}
    elif usage is not ...:  # ... leaves the field out, as older llama.cpp servers do
        body["usage"] = usage
    return body


def anthropic_answer(
    content: list[dict[str, Any]],
    *,
    stop_reason: str = "tool_use",
    usage: dict[str, Any] | None = None,
    model: str = "claude-3-5-haiku-latest",
) -> dict[str, Any]:
    """A Messages API body with ``content`` blocks as given."""
    return {
        "id": f"msg_{next(_ids):06d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 1000, "output_tokens": 200},
    }


def _unsupported(param: str, code: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeLLM:
    def __init__(self, protocol: str, key: str | None) -> None:
        self.protocol = protocol
        self.key = key
        self.script: deque[Scripted] = deque()
        self.requests: list[Recorded] = []
        self.protocol_errors: list[str] = []
        self.reject_json_schema = False
        self.model_reply_name = None
        self.chat_path = "/v1/chat/completions"
        """Where the OpenAI side serves; an Azure-style path keeps its ?api-version= query."""
        self.reasoning_model = False
        """Answer as OpenAI's o-series and gpt-5 do: 400 for max_tokens or a temperature."""
        self.unknown_paths_404 = False
        """Answer other paths 404 '404 page not found' as Ollama does, instead of flagging them."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        root = f"http://{host}:{port}"
        return f"{root}/v1" if self.protocol == "openai" else root

    def queue(self, *items: Scripted) -> None:
        self.script.extend(items)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- request handling -------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    fake.protocol_errors.append("request body is not JSON")
                    body = {}
                fake.requests.append(Recorded(self.path, headers, body))
                status, reply_headers, reply = fake._answer(self.path, headers, body)
                if isinstance(reply, bytes | str):
                    data = reply.encode() if isinstance(reply, str) else reply
                else:
                    data = json.dumps(reply).encode()
                self.send_response(status)
                if "content-type" not in reply_headers:
                    self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in reply_headers.items():
                    if name != "x-fake-cut":
                        self.send_header(name, value)
                self.end_headers()
                if "x-fake-cut" in reply_headers:  # announce it all, send half, hang up
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data)

        return Handler

    def _answer(
        self, path: str, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        if self.protocol == "openai":
            return self._openai(path, headers, body)
        return self._anthropic(path, headers, body)

    # -- OpenAI chat completions ------------------------------------------------------

    def _openai(self, path: str, headers: dict[str, str], body: dict[str, Any]):
        problems = self.protocol_errors
        if path != self.chat_path:
            if self.unknown_paths_404:
                return 404, {"content-type": "text/plain; charset=utf-8"}, "404 page not found"
            problems.append(f"openai: unexpected path {path}")
        if headers.get("content-type", "").split(";")[0] != "application/json":
            problems.append("openai: content-type is not application/json")
        if "api-version=" in path:  # Azure OpenAI's dated API takes the key in api-key
            if "authorization" in headers:
                problems.append("azure: the key goes in api-key, not authorization")
            headers = {**headers, "authorization": f"Bearer {headers.get('api-key', '')}"}
        if self.key is not None and headers.get("authorization") != f"Bearer {self.key}":
            return (
                401,
                {},
                {
                    "error": {
                        "message": "Incorrect API key provided: "
                        f"{headers.get('authorization', '')[7:]}. You can find your API key at "
                        "https://platform.openai.com/account/api-keys.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                },
            )
        if not isinstance(body.get("model"), str):
            problems.append("openai: model missing")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            problems.append("openai: messages must be a non-empty list")
            messages = []
        for message in messages:
            if message.get("role") not in ("system", "user", "assistant", "tool"):
                problems.append(f"openai: bad role {message.get('role')}")
            if not isinstance(message.get("content"), str):
                problems.append("openai: content must be a string here")
        if self.reasoning_model and "max_tokens" in body:
            return (
                400,
                {},
                _unsupported(
                    "max_tokens",
                    "unsupported_parameter",
                    "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
                ),
            )
        if self.reasoning_model and body.get("temperature", 1) != 1:
            said = f"Unsupported value: 'temperature' does not support {body['temperature']} with this model. Only the default (1) value is supported."
            return 400, {}, _unsupported("temperature", "unsupported_value", said)
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        if not isinstance(limit, int) or limit < 1:
            problems.append("openai: max_tokens must be a positive integer")
        fmt = body.get("response_format")
        if fmt is not None:
            kind = fmt.get("type")
            if kind == "json_schema":
                spec = fmt.get("json_schema") or {}
                if not _NAME.match(str(spec.get("name", ""))):
                    problems.append("openai: json_schema.name invalid")
                if (spec.get("schema") or {}).get("type") != "object":
                    problems.append("openai: json_schema.schema must be an object schema")
                if self.reject_json_schema:
                    return (
                        400,
                        {},
                        {
                            "error": {
                                "message": "'response_format' of type 'json_schema' is not "
                                "supported with this model",
                                "type": "invalid_request_error",
                                "param": "response_format",
                                "code": None,
                            }
                        },
                    )
            elif kind == "json_object":
                if not any("json" in str(m.get("content", "")).lower() for m in messages):
                    problems.append("openai: json_object needs the word JSON in the messages")
            elif kind != "text":
                problems.append(f"openai: unknown response_format {kind}")
        step = self._next()
        if step.kind == "error":
            return step.status, step.headers, step.payload
        content = json.dumps(step.payload) if step.kind == "structured" else step.payload
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in messages) // 4 + 7
        completion_tokens = max(1, len(content) // 4)
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if "cost" in step.headers:
            usage["cost"] = float(step.headers.pop("cost"))
        return (
            200,
            step.headers,
            {
                "id": f"chatcmpl-{next(_ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
                "system_fingerprint": "fp_fake",
            },
        )

    # -- Anthropic messages -----------------------------------------------------------

    def _anthropic(self, path: str, headers: dict[str, str], body: dict[str, Any]):
        problems = self.protocol_errors
        if path != "/v1/messages":
            if self.unknown_paths_404:
                return (
                    404,
                    {},
                    {"type": "error", "error": {"type": "not_found_error", "message": "Not found"}},
                )
            problems.append(f"anthropic: unexpected path {path}")
        if headers.get("anthropic-version") != "2023-06-01":
            problems.append("anthropic: anthropic-version header missing or wrong")
        if headers.get("content-type", "").split(";")[0] != "application/json":
            problems.append("anthropic: content-type is not application/json")
        if "authorization" in headers:
            problems.append("anthropic: the key goes in x-api-key, not authorization")
        if headers.get("x-api-key") != self.key:
            return (
                401,
                {},
                {
                    "type": "error",
                    "error": {"type": "authentication_error", "message": "invalid x-api-key"},
                },
            )
        if not isinstance(body.get("model"), str):
            problems.append("anthropic: model missing")
        if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
            problems.append("anthropic: max_tokens required")
        if "system" in body and not isinstance(body["system"], str | list):
            problems.append("anthropic: system must be a string or blocks")
        messages = body.get("messages") or []
        if not messages or messages[0].get("role") != "user":
            problems.append("anthropic: messages must start with a user turn")
        previous_tool_ids: set[str] = set()
        for index, message in enumerate(messages):
            role = message.get("role")
            if role not in ("user", "assistant"):
                problems.append(f"anthropic: bad role {role}")
            if index and messages[index - 1].get("role") == role:
                problems.append("anthropic: roles must alternate")
            content = message.get("content")
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
            if not isinstance(blocks, list):
                problems.append("anthropic: content must be a string or a list of blocks")
                continue
            answered = set()
            for block in blocks:
                kind = block.get("type")
                if kind not in ("text", "tool_use", "tool_result", "image", "document", *_THINKING):
                    problems.append(f"anthropic: unknown block type {kind}")
                if kind in _THINKING and role != "assistant":
                    problems.append("anthropic: a thinking block outside an assistant turn")
                if kind == "tool_result":
                    if role != "user":
                        problems.append("anthropic: tool_result outside a user turn")
                    if block.get("tool_use_id") not in previous_tool_ids:
                        problems.append("anthropic: tool_result for an unknown tool_use id")
                    answered.add(block.get("tool_use_id"))
            if role == "user" and previous_tool_ids and previous_tool_ids - answered:
                problems.append("anthropic: a tool_use was not answered by a tool_result")
            previous_tool_ids = {b["id"] for b in blocks if b.get("type") == "tool_use" and "id" in b}
        tools = body.get("tools") or []
        names = set()
        for tool in tools:
            if not _NAME.match(str(tool.get("name", ""))):
                problems.append("anthropic: tool name invalid")
            if (tool.get("input_schema") or {}).get("type") != "object":
                problems.append("anthropic: input_schema must be an object schema")
            names.add(tool.get("name"))
        choice = body.get("tool_choice")
        if choice is not None:
            if choice.get("type") not in ("auto", "any", "tool", "none"):
                problems.append("anthropic: bad tool_choice")
            if choice.get("type") == "tool" and choice.get("name") not in names:
                problems.append("anthropic: tool_choice names an undefined tool")
        step = self._next()
        if step.kind == "error":
            return step.status, step.headers, step.payload
        if step.kind == "structured":
            if not tools:
                problems.append("anthropic: structured reply scripted but no tool offered")
            content = [
                {
                    "type": "tool_use",
                    "id": f"toolu_{next(_ids):04d}",
                    "name": (choice or {}).get("name") or (tools[0]["name"] if tools else "x"),
                    "input": step.payload,
                }
            ]
            stop = "tool_use"
            out_len = len(json.dumps(step.payload))
        else:
            content = [{"type": "text", "text": step.payload}]
            stop = "end_turn"
            out_len = len(step.payload)
        input_tokens = len(json.dumps(messages)) // 4 + len(str(body.get("system", ""))) // 4
        return (
            200,
            step.headers,
            {
                "id": f"msg_{next(_ids):06d}",
                "type": "message",
                "role": "assistant",
                "model": body.get("model"),
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": max(1, out_len // 4)},
            },
        )

    def _next(self) -> Scripted:
        if not self.script:
            self.protocol_errors.append("request beyond the script")
            return error(500, {"error": {"message": "script exhausted"}})
        step = self.script.popleft()
        if step.kind == "raw":
            return Scripted("error", step.payload, step.status, dict(step.headers))
        if step.kind == "cut":
            return Scripted("error", step.payload, 200, {"x-fake-cut": "1"})
        return step


@pytest.fixture
def openai_server() -> Iterator[FakeLLM]:
    fake = FakeLLM("openai", OPENAI_KEY)
    yield fake
    fake.close()
    assert fake.protocol_errors == []


@pytest.fixture
def anthropic_server() -> Iterator[FakeLLM]:
    fake = FakeLLM("anthropic", ANTHROPIC_KEY)
    yield fake
    fake.close()
    assert fake.protocol_errors == []


@pytest.fixture
def keyless_openai_server() -> Iterator[FakeLLM]:
    """A local server (Ollama, llama.cpp) that takes no key."""
    fake = FakeLLM("openai", None)
    yield fake
    fake.close()
    assert fake.protocol_errors == []


@pytest.fixture(params=["openai", "anthropic"])
def any_server(request: pytest.FixtureRequest) -> Iterator[FakeLLM]:
    """Each test using it runs once per protocol."""
    key = OPENAI_KEY if request.param == "openai" else ANTHROPIC_KEY
    fake = FakeLLM(request.param, key)
    yield fake
    fake.close()
    assert fake.protocol_errors == []


def provider_for(fake: FakeLLM, model: str | None = None):
    """A real provider pointed at ``fake``."""
    from bot.engines.llm.anthropic_messages import AnthropicProvider
    from bot.engines.llm.openai_chat import OpenAICompatibleProvider

    if fake.protocol == "openai":
        return OpenAICompatibleProvider(
            base_url=fake.base_url,
            model=model or "gpt-4o-mini",
            api_key=fake.key,
            timeout_seconds=10,
        )
    return AnthropicProvider(
        base_url=fake.base_url,
        model=model or "claude-3-5-haiku-latest",
        api_key=fake.key or "",
        timeout_seconds=10,
    )


@pytest.fixture
def make_provider():
    return provider_for


def changed_file(path: str, old: str, new: str, *, status: str = "modified") -> ChangedFile:
    """A ``ChangedFile`` with a GitHub-shaped patch and line maps, computed by difflib."""
    diff = list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=3))[2:]
    added: set[int] = set()
    context: set[int] = set()
    number = 0
    for line in diff:
        if line.startswith("@@"):
            number = int(re.match(r"@@ -\S+ \+(\d+)", line).group(1))
        elif line.startswith("+"):
            added.add(number)
            number += 1
        elif line.startswith(" "):
            context.add(number)
            number += 1
    return ChangedFile(
        path=path,
        status=status,  # type: ignore[arg-type]
        added_lines=frozenset(added),
        context_lines=frozenset(context),
        patch="\n".join(diff),
    )


def make_context(
    changes: dict[str, tuple[str, str]], *, title: str = "Add feature", body: str = ""
) -> StageContext:
    """A ``StageContext`` over in-memory base and head trees built from ``{path: (old, new)}``."""
    files = [
        changed_file(path, old, new, status="added" if not old else "modified")
        for path, (old, new) in changes.items()
    ]
    return StageContext(
        repo="octo/demo",
        base_sha="a" * 40,
        head_sha="b" * 40,
        files=files,
        head=MemoryTree({p: new.encode() for p, (_, new) in changes.items()}),
        base=MemoryTree({p: old.encode() for p, (old, _) in changes.items() if old}),
        pr_title=title,
        pr_body=body,
    )


@pytest.fixture
def context_factory():
    return make_context


def llm_finding(message: str, line: int, path: str = "shop/cart.py"):
    """A warning the llm engine reported on ``path``:``line``, as ``/shunter explain`` gets it."""
    from bot.models import Finding, Severity, StageName

    return Finding(
        stage=StageName.REVIEW,
        rule_id="llm/bug",
        severity=Severity.WARNING,
        message=message,
        path=path,
        start_line=line,
        end_line=line,
    )


@pytest.fixture
def finding_factory():
    return llm_finding


@pytest.fixture
def reply():
    """Builders for scripted answers: ``reply.structured(obj)``, ``.text(s)``, ``.error(...)``,
    ``.raw(body)`` with whole bodies from ``.openai(...)`` / ``.anthropic(...)``, ``.cut(body)``."""
    from types import SimpleNamespace

    return SimpleNamespace(
        structured=structured,
        text=text,
        error=error,
        raw=raw,
        cut=cut,
        openai=openai_answer,
        anthropic=anthropic_answer,
    )
