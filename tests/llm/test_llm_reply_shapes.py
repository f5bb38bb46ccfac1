"""What real servers send back, end to end through the review stage and the providers.

Each shape is one a real server sends (OpenAI, Anthropic, Ollama, vLLM, llama.cpp, LM
Studio, proxies in front of them), served by the fake over loopback; the assertions are on
what the maintainer sees: the check run's summary and notes, the recorded usage.
"""

from __future__ import annotations

import json

import pytest

from bot.errors import EngineError
from bot.stages import review_llm
from bot.stages.verdict import title

OLD = "def total(items):\n    return sum(items)\n"
NEW = "def total(items):\n    return sum(i.price for i in items)\n"
FINDING = {
    "path": "shop/cart.py",
    "line": 2,
    "severity": "warning",
    "category": "bug",
    "message": "price may be None for legacy items",
}
ANSWER = json.dumps({"findings": [FINDING]})


def _openai_usage(completion_tokens: int, prompt_tokens: int = 1000) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


# An answer cut off at the limit counts the limit: the review's default run sends 4000.
OPENAI_AT_4000 = _openai_usage(4000)
ANTHROPIC_AT_4000 = {"input_tokens": 1000, "output_tokens": 4000}


def _review(server, make_provider, context_factory, **kwargs):
    ctx = context_factory({"shop/cart.py": (OLD, NEW)})
    return review_llm.run(ctx, make_provider(server), **kwargs)


def test_openai_answer_cut_off_at_max_tokens_names_the_setting(
    openai_server, make_provider, context_factory, reply
):
    openai_server.queue(reply.raw(reply.openai(ANSWER[:40], finish_reason="length", usage=OPENAI_AT_4000)))
    result = _review(openai_server, make_provider, context_factory)
    assert result.neutral and not result.findings
    [note] = result.notes
    sent = openai_server.requests[0].body["max_tokens"]
    assert f"cut off at max_tokens={sent}" in note and "finish_reason: length" in note
    assert "llm.max_tokens_per_run (now 20000" in note and "20480" in note
    assert "more capable model" not in note
    assert len(openai_server.requests) == 1  # the same limit would cut it off again
    assert title(result) == "Incomplete (the model's answer was cut off): No findings"


def test_anthropic_tool_call_cut_off_is_not_a_clean_review(
    anthropic_server, make_provider, context_factory, reply
):
    # Cut short inside the tool call, the input is empty: it validates as "no findings".
    cut_short = [{"type": "tool_use", "id": "toolu_01", "name": "record_answer", "input": {}}]
    anthropic_server.queue(
        reply.raw(reply.anthropic(cut_short, stop_reason="max_tokens", usage=ANTHROPIC_AT_4000))
    )
    result = _review(anthropic_server, make_provider, context_factory)
    assert result.neutral and result.summary == "LLM review failed."
    assert "stop_reason: max_tokens" in result.notes[0]
    assert "llm.max_tokens_per_run" in result.notes[0]


def test_reasoning_model_that_thinks_past_the_cap_is_told_so(
    keyless_openai_server, make_provider, context_factory, reply
):
    thinking = reply.openai(
        "",
        finish_reason="length",
        reasoning_content="Let me look at {items} carefully...",
        usage=_openai_usage(4096),
    )
    keyless_openai_server.queue(reply.raw(thinking))
    result = _review(keyless_openai_server, make_provider, context_factory, max_tokens_per_run=100_000)
    [note] = result.notes
    assert "cut off at max_tokens=4096" in note and "spent reasoning" in note
    assert "thinks less" in note and "raise llm.max_tokens_per_run" not in note


def test_refusals_and_filters_end_the_call_with_the_reason(any_server, make_provider, context_factory, reply):
    if any_server.protocol == "openai":
        answers = [
            reply.openai(None, refusal="I'm sorry, I can't help with that."),
            reply.openai(None, finish_reason="content_filter"),
        ]
        expected = ["(message.refusal): I'm sorry, I can't help with that.", "content filter"]
    else:
        answers = [reply.anthropic([], stop_reason="refusal")]
        expected = ["refused to answer (stop_reason: refusal)"]
    for answer, words in zip(answers, expected, strict=True):
        any_server.requests.clear()
        any_server.queue(reply.raw(answer))
        result = _review(any_server, make_provider, context_factory)
        assert result.neutral and words in result.notes[0]
        assert "builtin engine" in result.notes[0]
        assert len(any_server.requests) == 1
        assert title(result) == "Incomplete (the model did not answer): No findings"


def test_a_plain_text_answer_cut_off_is_still_used(any_server, make_provider, reply):
    if any_server.protocol == "openai":
        answer = reply.openai("It matters because", finish_reason="length")
    else:
        answer = reply.anthropic([{"type": "text", "text": "It matters because"}], stop_reason="max_tokens")
    any_server.queue(reply.raw(answer))
    completion = make_provider(any_server).complete([{"role": "user", "content": "Why?"}])
    assert completion.text == "It matters because"


def test_think_block_before_the_json_is_not_taken_for_the_answer(
    keyless_openai_server, make_provider, context_factory, reply
):
    # DeepSeek-R1 through Ollama or llama.cpp --reasoning-format none; the think text has
    # braces, and a QwQ-style template leaves only the closing tag.
    thought = 'The user wants {"findings": [...]}? Check {items} first.'
    keyless_openai_server.queue(
        reply.raw(reply.openai(f"<think>\n{thought}\n</think>\n\n{ANSWER}")),
        reply.raw(reply.openai(f"{thought}\n</think>\n```json\n{ANSWER}\n```")),
    )
    for _ in range(2):
        result = _review(keyless_openai_server, make_provider, context_factory)
        assert not result.neutral, result.notes
        assert [f.message for f in result.findings] == [FINDING["message"]]
    assert len(keyless_openai_server.requests) == 2  # no correction round


def test_explanations_do_not_publish_the_models_thinking(keyless_openai_server, make_provider, reply):
    keyless_openai_server.queue(
        reply.raw(reply.openai("<think>Hmm, {x} is None when...</think>\nIt fails on None."))
    )
    completion = make_provider(keyless_openai_server).complete([{"role": "user", "content": "Why?"}])
    assert completion.text.strip() == "It fails on None."


VLLM_400 = {
    "object": "error",
    "message": "The provided JSON schema contains features not supported by xgrammar.",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}
LLAMA_CPP_500 = {
    "error": {
        "code": 500,
        "message": 'response_format type must be one of "text" or "json_object", but got: json_schema',
        "type": "server_error",
    }
}
LM_STUDIO_400 = {"error": "'response_format.type' must be 'json_schema' or 'text'"}
GEMINI_400 = [  # Gemini's OpenAI-compatible endpoint answers with a list
    {
        "error": {
            "code": 400,
            "message": 'Invalid JSON payload received. Unknown name "$defs" at '
            "'generation_config.response_schema': Cannot find field.",
            "status": "INVALID_ARGUMENT",
        }
    }
]


def test_servers_refusing_json_schema_in_their_own_words_get_the_next_form(
    keyless_openai_server, make_provider, context_factory, reply
):
    keyless_openai_server.queue(
        reply.raw(LLAMA_CPP_500, status=500),  # a 500, and still not worth retrying
        reply.raw(reply.openai(ANSWER)),
        reply.raw(VLLM_400, status=400),
        reply.raw(LM_STUDIO_400, status=400),  # LM Studio takes no json_object
        reply.raw(reply.openai(ANSWER)),
        reply.raw(GEMINI_400, status=400),
        reply.raw(reply.openai(ANSWER)),
    )
    for forms in (
        ["json_schema", "json_object"],
        ["json_schema", "json_object", None],
        ["json_schema", "json_object"],
    ):
        keyless_openai_server.requests.clear()
        result = _review(keyless_openai_server, make_provider, context_factory)
        assert not result.neutral, result.notes
        assert len(result.findings) == 1
        sent = [(r.body.get("response_format") or {}).get("type") for r in keyless_openai_server.requests]
        assert sent == forms
        # without json_schema, the schema travels in the system message
        assert '"findings"' in keyless_openai_server.requests[-1].body["messages"][0]["content"]


def test_a_server_that_ignores_json_schema_is_shown_the_schema_on_the_retry(
    keyless_openai_server, make_provider, context_factory, reply
):
    # Older Ollama accepted response_format json_schema and dropped it: the model wrote prose.
    keyless_openai_server.queue(
        reply.raw(reply.openai("The change looks fine, though price may be None.")),
        reply.raw(reply.openai(ANSWER)),
    )
    result = _review(keyless_openai_server, make_provider, context_factory)
    assert not result.neutral, result.notes
    assert len(result.findings) == 1
    first, retry = keyless_openai_server.requests
    assert first.body["response_format"]["type"] == "json_schema"
    assert retry.body["response_format"] == {"type": "json_object"}
    system = retry.body["messages"][0]["content"]
    assert "JSON Schema" in system and '"findings"' in system
    assert "not valid JSON" in retry.body["messages"][-1]["content"]


def test_an_error_passed_on_with_status_200_says_what_the_upstream_said(
    any_server, make_provider, context_factory, reply
):
    # LiteLLM / OpenRouter-style proxies relay an upstream failure with 200; it may echo the key.
    said = f"upstream rejected key {any_server.key[:8]}...{any_server.key[-6:]}: model overloaded"
    if any_server.protocol == "openai":
        body = {"error": {"message": said, "type": "server_error", "code": 503}}
    else:
        body = {"type": "error", "error": {"type": "overloaded_error", "message": said}}
    any_server.queue(reply.raw(body))
    result = _review(any_server, make_provider, context_factory)
    [note] = result.notes
    assert result.neutral and "answered 200 with an error" in note
    assert "model overloaded" in note and "choices" not in note
    assert any_server.key[-6:] not in note


def test_missing_usage_is_recorded_as_unknown_not_as_free(any_server, make_provider, context_factory, reply):
    # Older llama.cpp servers and some proxies send no usage, or "usage": null.
    if any_server.protocol == "openai":
        answers = [reply.openai(ANSWER, usage=...), reply.openai(ANSWER, usage=None)]
    else:
        call = [{"type": "tool_use", "id": "toolu_9", "name": "record_answer", "input": {}}]
        answers = [{**reply.anthropic(call), "usage": None}]
    for answer in answers:
        any_server.queue(reply.raw(answer))
        result = _review(any_server, make_provider, context_factory)
        assert not result.neutral, result.notes
        assert "did not report its token use, so the cost is unknown" in result.summary
        assert "$0.0000" not in result.summary
        assert result.metrics["llm_cost_usd"] is None
        assert result.metrics["llm_input_tokens"] is None


def test_usage_with_cache_details_is_counted_as_sent(any_server, make_provider, context_factory, reply):
    if any_server.protocol == "openai":
        usage = {
            "prompt_tokens": 2000,
            "completion_tokens": 100,
            "total_tokens": 2100,
            "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }
        answer = reply.openai(ANSWER, usage=usage)
    else:
        usage = {
            "input_tokens": 976,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 1024,
            "output_tokens": 100,
        }
        answer = reply.anthropic(
            [{"type": "tool_use", "id": "toolu_8", "name": "record_answer", "input": {}}],
            usage=usage,
        )
    any_server.queue(reply.raw(answer))
    result = _review(any_server, make_provider, context_factory)
    assert (result.metrics["llm_input_tokens"], result.metrics["llm_output_tokens"]) == (2000, 100)
    assert "2000 input + 100 output tokens" in result.summary
    # the 1024 cached tokens are billed at the cache's rate, not as plain input
    if any_server.protocol == "openai":  # gpt-4o-mini: 0.15 in, 0.075 cached, 0.60 out
        expected = (976 * 0.15 + 1024 * 0.075 + 100 * 0.60) / 1e6
    else:  # claude-3-5-haiku: 0.80 in, 0.08 cache read, 4.00 out
        expected = (976 * 0.80 + 1024 * 0.08 + 100 * 4.00) / 1e6
    assert result.metrics["llm_cost_usd"] == pytest.approx(expected, abs=1e-6)


def test_anthropic_cache_writes_cost_more_than_plain_input(anthropic_server, make_provider, reply):
    usage = {
        "input_tokens": 10,
        "cache_creation_input_tokens": 2000,
        "cache_read_input_tokens": 0,
        "output_tokens": 100,
    }
    anthropic_server.queue(
        reply.raw(reply.anthropic([{"type": "text", "text": "ok"}], stop_reason="end_turn", usage=usage))
    )
    completion = make_provider(anthropic_server).complete([{"role": "user", "content": "Hi"}])
    assert completion.input_tokens == 2010
    assert completion.cost_usd == pytest.approx((10 * 0.80 + 2000 * 1.00 + 100 * 4.00) / 1e6, abs=1e-6)


def test_usage_fields_of_the_wrong_shape_do_not_crash(openai_server, make_provider, reply):
    for usage in (
        "n/a",
        [],
        {"prompt_tokens": "12", "completion_tokens": None, "prompt_tokens_details": None},
    ):
        openai_server.queue(reply.raw(reply.openai("ok", usage=usage)))
        completion = make_provider(openai_server).complete([{"role": "user", "content": "Hi"}])
        assert completion.text == "ok" and completion.usage_reported is False
        assert completion.cost_usd is None


def _root(server) -> str:
    host, port = server._server.server_address[:2]
    return f"http://{host}:{port}"


def test_base_urls_as_users_type_them(openai_server, anthropic_server, reply):
    from bot.engines.llm.anthropic_messages import AnthropicProvider
    from bot.engines.llm.openai_chat import OpenAICompatibleProvider

    ask = [{"role": "user", "content": "Hi"}]
    openai_root, anthropic_root = _root(openai_server), _root(anthropic_server)
    for base in (f"{openai_root}/v1", f"{openai_root}/v1/"):
        openai_server.queue(reply.text("hello"))
        provider = OpenAICompatibleProvider(base_url=base, model="m", api_key=openai_server.key)
        assert provider.complete(ask).text == "hello"
    # Anthropic's SDKs take the host; a URL typed with /v1 (as OpenAI's are) is not doubled
    for base in (anthropic_root, f"{anthropic_root}/", f"{anthropic_root}/v1", f"{anthropic_root}/v1/"):
        anthropic_server.queue(reply.text("hello"))
        provider = AnthropicProvider(base_url=base, model="m", api_key=anthropic_server.key)
        assert provider.complete(ask).text == "hello"
    assert [r.path for r in anthropic_server.requests] == ["/v1/messages"] * 4

    # Azure OpenAI's dated API: the query stays a query, the key goes in api-key
    openai_server.requests.clear()
    openai_server.chat_path = "/openai/deployments/review/chat/completions?api-version=2024-10-21"
    azure = f"{openai_root}/openai/deployments/review?api-version=2024-10-21"
    openai_server.queue(reply.text("hello"))
    provider = OpenAICompatibleProvider(base_url=azure, model="m", api_key=openai_server.key)
    assert provider.complete(ask).text == "hello"
    [request] = openai_server.requests
    assert request.headers["api-key"] == openai_server.key and "authorization" not in request.headers


def test_ollama_root_url_without_v1_says_where_the_api_is(keyless_openai_server, context_factory, reply):
    from bot.engines.llm.openai_chat import OpenAICompatibleProvider

    keyless_openai_server.unknown_paths_404 = True
    root = _root(keyless_openai_server)  # http://localhost:11434 as typed, without /v1
    provider = OpenAICompatibleProvider(base_url=root, model="qwen3:8b")
    ctx = context_factory({"shop/cart.py": (OLD, NEW)})
    [note] = review_llm.run(ctx, provider).notes
    assert "404" in note and "llm.base_url" in note and "/v1" in note

    # a 404 naming the model is about llm.model, not the URL
    keyless_openai_server.queue(
        reply.raw({"error": {"message": 'model "qwen3:8b" not found, try pulling it first'}}, status=404)
    )
    with_v1 = OpenAICompatibleProvider(base_url=f"{root}/v1", model="qwen3:8b")
    [note] = review_llm.run(ctx, with_v1).notes
    assert "check llm.model" in note


def test_a_failed_review_still_records_what_its_calls_cost(any_server, make_provider, context_factory, reply):
    if any_server.protocol == "openai":
        bad = [reply.openai("No JSON today."), reply.openai("Still none.")]
    else:
        bad = [reply.anthropic([{"type": "text", "text": "No."}], stop_reason="end_turn")] * 2
    any_server.queue(*[reply.raw(answer) for answer in bad])
    result = _review(any_server, make_provider, context_factory)
    assert result.neutral and "twice" in result.notes[0]
    assert result.metrics["llm_calls"] == 2
    assert result.metrics["llm_input_tokens"] == 2000 and result.metrics["llm_output_tokens"] == 400
    assert result.metrics["llm_cost_usd"] > 0  # list-priced model: paid for, so recorded

    # one cut off: one call, recorded too
    if any_server.protocol == "openai":
        cut_off = reply.openai('{"findings": [', finish_reason="length", usage=OPENAI_AT_4000)
    else:
        cut_off = reply.anthropic([], stop_reason="max_tokens", usage=ANTHROPIC_AT_4000)
    any_server.queue(reply.raw(cut_off))
    result = _review(any_server, make_provider, context_factory)
    assert (result.metrics["llm_calls"], result.metrics["llm_input_tokens"]) == (1, 1000)


def test_openai_reasoning_models_get_max_completion_tokens_and_no_temperature(
    openai_server, make_provider, context_factory, reply
):
    # o3-mini, o4-mini, gpt-5: 400 for max_tokens, then 400 for temperature 0.0
    openai_server.reasoning_model = True
    openai_server.queue(reply.raw(reply.openai(ANSWER)), reply.raw(reply.openai(ANSWER)))
    provider = make_provider(openai_server, "o4-mini")
    ctx = context_factory({"shop/cart.py": (OLD, NEW)})
    result = review_llm.run(ctx, provider)
    assert not result.neutral, result.notes
    assert len(result.findings) == 1
    *refused, sent = openai_server.requests
    assert len(refused) == 2
    assert "max_tokens" not in sent.body and sent.body["max_completion_tokens"] > 0
    assert "temperature" not in sent.body
    # remembered: the next call goes right the first time
    openai_server.requests.clear()
    assert not review_llm.run(ctx, provider).neutral
    assert len(openai_server.requests) == 1


NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
    "Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n"
)


def _provider_sleeping_into(server, waits: list[float]):
    from bot.engines.llm.openai_chat import OpenAICompatibleProvider
    from bot.engines.llm.transport import JSONTransport

    transport = JSONTransport(timeout_seconds=10, secret=server.key, sleep=waits.append)
    return OpenAICompatibleProvider(
        base_url=server.base_url, model="gpt-4o-mini", api_key=server.key, transport=transport
    )


def test_retries_honour_what_the_server_and_its_proxy_send(openai_server, reply):
    import email.utils
    import time

    waits: list[float] = []
    in_20s = email.utils.formatdate(time.time() + 20, usegmt=True)
    openai_server.queue(
        reply.raw({"error": {"message": "Rate limit reached"}}, 429, {"retry-after": in_20s}),
        reply.raw({"error": {"message": "busy"}}, 503, {"retry-after-ms": "250", "retry-after": "9"}),
        reply.cut(reply.openai("hello")),  # connection reset half-way through the body
        reply.raw(reply.openai("hello")),
    )
    completion = _provider_sleeping_into(openai_server, waits).complete([{"role": "user", "content": "Hi"}])
    assert completion.text == "hello"
    assert 18 <= waits[0] <= 20 and waits[1:] == [0.25, 2.0]


def test_giving_up_says_what_the_server_or_its_proxy_said(openai_server, reply):
    waits: list[float] = []
    openai_server.queue(*[reply.raw(NGINX_502, 502, {"content-type": "text/html"})] * 4)
    provider = _provider_sleeping_into(openai_server, waits)
    with pytest.raises(EngineError) as caught:
        provider.complete([{"role": "user", "content": "Hi"}])
    assert "502 (502 Bad Gateway) after 4 attempts" in str(caught.value)

    # no credit left is a 429 that waiting does not change: said at once, not retried
    openai_server.requests.clear()
    quota = {
        "error": {
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }
    openai_server.queue(reply.raw(quota, 429))
    with pytest.raises(EngineError) as caught:
        provider.complete([{"role": "user", "content": "Hi"}])
    assert "exceeded your current quota" in str(caught.value) and "add credit" in str(caught.value)
    assert len(openai_server.requests) == 1


def test_anthropic_overload_and_rate_limits_wait_but_a_spent_cap_is_said_at_once(anthropic_server, reply):
    from bot.engines.llm.anthropic_messages import AnthropicProvider
    from bot.engines.llm.transport import JSONTransport

    def anthropic_error(status: int, kind: str, message: str, **details: str):
        body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011CS"}
        if details:
            body["error"]["details"] = details
        return body

    waits: list[float] = []
    key = anthropic_server.key or ""
    transport = JSONTransport(timeout_seconds=10, secret=key, sleep=waits.append)
    provider = AnthropicProvider(
        base_url=anthropic_server.base_url, model="claude-haiku-4-5", api_key=key, transport=transport
    )
    anthropic_server.queue(
        reply.raw(anthropic_error(529, "overloaded_error", "Overloaded"), 529),
        reply.raw(
            anthropic_error(429, "rate_limit_error", "This request would exceed your rate limit."),
            429,
            {"retry-after": "7"},
        ),
        reply.text("hello"),
    )
    assert provider.complete([{"role": "user", "content": "Hi"}]).text == "hello"
    assert waits == [0.5, 7.0]

    # the tier's monthly spend cap is a rate_limit_error with no retry-after: no wait ends it
    anthropic_server.requests.clear()
    capped = anthropic_error(
        429,
        "rate_limit_error",
        "You have reached your organization's monthly usage limit for your tier.",
        error_code="enforced_spend_limit_reached",
    )
    anthropic_server.queue(reply.raw(capped, 429))
    with pytest.raises(EngineError) as caught:
        provider.complete([{"role": "user", "content": "Hi"}])
    assert "monthly usage limit" in str(caught.value) and "spend limit" in str(caught.value)
    assert len(anthropic_server.requests) == 1


def test_a_prompt_the_server_cut_to_its_context_window_is_not_a_clean_review(
    keyless_openai_server, make_provider, context_factory, reply
):
    # Ollama's /v1 cuts a prompt longer than num_ctx (2048 by default before 0.6) without
    # an error and counts only what it kept.
    old = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(300))
    new = old.replace("return x + ", "return x * ")
    ctx = context_factory({"shop/cart.py": (old, new)})
    finding = {**FINDING, "line": 2}
    kept = reply.openai(
        json.dumps({"findings": [finding]}),
        usage={"prompt_tokens": 1900, "completion_tokens": 148, "total_tokens": 2048},
    )
    keyless_openai_server.queue(reply.raw(kept))
    result = review_llm.run(ctx, make_provider(keyless_openai_server))
    estimate = result.metrics["llm_prompt_tokens_estimate"]
    assert estimate > 4000
    assert result.neutral and len(result.findings) == 1  # what it found still stands
    assert result.summary.startswith("The model saw only part of the pull request")
    assert title(result) == "Incomplete (the model saw only part of the PR): 1 warning"
    [note] = result.notes
    assert f"counted 1900 prompt tokens for a prompt of about {estimate}" in note
    assert "OLLAMA_CONTEXT_LENGTH" in note and "llm.max_tokens_per_run" in note

    # a server that counts about what was sent: no such note
    whole = reply.openai(
        json.dumps({"findings": [finding]}),
        usage={"prompt_tokens": estimate + 300, "completion_tokens": 148, "total_tokens": 0},
    )
    keyless_openai_server.queue(reply.raw(whole))
    result = review_llm.run(ctx, make_provider(keyless_openai_server))
    assert not result.neutral and result.notes == []


def test_a_request_too_long_for_the_model_names_the_setting(
    any_server, make_provider, context_factory, reply
):
    if any_server.protocol == "openai":
        bodies = [
            {  # vLLM served with --max-model-len 8192
                "object": "error",
                "message": "This model's maximum context length is 8192 tokens. However, you "
                "requested 10240 tokens (6240 in the messages, 4000 in the completion). Please "
                "reduce the length of the messages or completion.",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            },
            {  # llama.cpp server started with -c 4096
                "error": {
                    "code": 400,
                    "message": "the request exceeds the available context size, try increasing it",
                    "type": "exceed_context_size_error",
                    "n_prompt_tokens": 6240,
                    "n_ctx": 4096,
                }
            },
        ]
    else:
        bodies = [
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "message": "prompt is too long: 210000 tokens > 200000 maximum",
                },
            }
        ]
    for body in bodies:
        any_server.queue(reply.raw(body, 400))
        result = _review(any_server, make_provider, context_factory)
        [note] = result.notes
        assert result.neutral and "400" in note
        assert "lower llm.max_tokens_per_run (now 20000) to the model's context window" in note


def test_an_explanation_that_never_got_past_its_thinking_says_so(
    keyless_openai_server, make_provider, reply, finding_factory
):
    from bot.engines.llm.endings import AnswerCutOff

    finding = finding_factory("price may be None", 2)
    keyless_openai_server.queue(
        # Ollama before its reasoning field: the <think> never closed
        reply.raw(
            reply.openai("<think>\nFirst, {price} could be", finish_reason="length", usage=_openai_usage(800))
        ),
        # vLLM / llama.cpp with a reasoning parser
        reply.raw(
            reply.openai(
                None, finish_reason="length", reasoning_content="First, ...", usage=_openai_usage(800)
            )
        ),
    )
    for _ in range(2):
        with pytest.raises(AnswerCutOff) as caught:
            review_llm.explain_finding(make_provider(keyless_openai_server), finding, "x = 1")
        assert "cut off at max_tokens=800 (all of them spent reasoning" in str(caught.value)


def test_tool_input_sent_as_json_strings_is_read_as_what_it_spells(
    anthropic_server, make_provider, context_factory, reply
):
    findings = json.dumps([FINDING])
    stringified = [  # a nested array as a string; a gateway's whole input as a string
        {"type": "tool_use", "id": "toolu_21", "name": "record_answer", "input": {"findings": findings}},
        {"type": "tool_use", "id": "toolu_22", "name": "record_answer", "input": ANSWER},
    ]
    for block in stringified:
        anthropic_server.requests.clear()
        anthropic_server.queue(reply.raw(reply.anthropic([block])))
        result = _review(anthropic_server, make_provider, context_factory)
        assert not result.neutral, result.notes
        assert [f.message for f in result.findings] == [FINDING["message"]]
        assert len(anthropic_server.requests) == 1  # no correction round


def test_an_answer_cut_off_by_a_full_context_window_says_so(
    keyless_openai_server, make_provider, context_factory, reply
):
    # Ollama at num_ctx 4096: a 2990-token prompt leaves 1106 for the answer, not 4000.
    full = reply.openai(ANSWER[:40], finish_reason="length", usage=_openai_usage(1106, 2990))
    keyless_openai_server.queue(reply.raw(full))
    result = _review(keyless_openai_server, make_provider, context_factory)
    [note] = result.notes
    assert "cut off after 1106 of the max_tokens=4000 answer tokens" in note
    assert "context window, which holds the prompt and the answer, was full" in note
    assert "OLLAMA_CONTEXT_LENGTH" in note and "lower llm.max_tokens_per_run (now 20000)" in note
    assert "20480" not in note  # raising the budget would make it worse
    assert title(result) == "Incomplete (the model's context window was full): No findings"


def test_anthropic_context_window_stops_and_limits_name_the_fix(
    anthropic_server, make_provider, context_factory, reply
):
    stopped = reply.anthropic([], stop_reason="model_context_window_exceeded")
    too_long = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "input length and `max_tokens` exceed context limit: 197000 + 4000 > 200000, "
            "decrease input length or `max_tokens` and try again",
        },
    }
    anthropic_server.queue(reply.raw(stopped), reply.raw(too_long, 400))
    for words in ("(stop_reason: model_context_window_exceeded)", "exceed context limit"):
        result = _review(anthropic_server, make_provider, context_factory)
        [note] = result.notes
        assert result.neutral and words in note
        assert "lower llm.max_tokens_per_run (now 20000) to the model's context window" in note
        assert "cut off at max_tokens" not in note
