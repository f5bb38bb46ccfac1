"""Both providers against the local fake server speaking the real wire protocols."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import traceback

import pytest
from pydantic import BaseModel

from bot.engines.llm.factory import provider_from_config
from bot.engines.llm.openai_chat import OpenAICompatibleProvider
from bot.errors import EngineError
from bot.policies.schema import LLMConfig


class Verdict(BaseModel):
    answer: str
    score: int


MESSAGES = [
    {"role": "system", "content": "You grade things."},
    {"role": "user", "content": "Grade this."},
]


def test_valid_structured_output(any_server, make_provider, reply):
    any_server.queue(reply.structured({"answer": "fine", "score": 7}))
    provider = make_provider(any_server)

    completion = provider.complete(MESSAGES, schema=Verdict, max_tokens=300)

    assert completion.parsed == Verdict(answer="fine", score=7)
    assert completion.calls == 1
    assert completion.input_tokens > 0 and completion.output_tokens > 0
    assert completion.cost_usd is not None and completion.cost_usd > 0  # list-priced models
    [request] = any_server.requests
    body = request.body
    assert body["max_tokens"] == 300 and body["temperature"] == 0.0
    if any_server.protocol == "openai":
        assert request.headers["authorization"] == f"Bearer {any_server.key}"
        assert body["response_format"]["type"] == "json_schema"
        assert body["response_format"]["json_schema"]["schema"]["properties"].keys() == {
            "answer",
            "score",
        }
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
    else:
        assert request.headers["x-api-key"] == any_server.key
        assert body["system"] == "You grade things."
        assert [m["role"] for m in body["messages"]] == ["user"]
        assert body["tool_choice"] == {"type": "tool", "name": body["tools"][0]["name"]}
        assert "score" in body["tools"][0]["input_schema"]["properties"]


def test_plain_text_completion(any_server, make_provider, reply):
    any_server.queue(reply.text("Looks good to me."))
    completion = make_provider(any_server).complete(MESSAGES, max_tokens=50)
    assert completion.text == "Looks good to me."
    assert completion.parsed is None
    assert "tools" not in any_server.requests[0].body
    assert "response_format" not in any_server.requests[0].body


def test_invalid_then_valid_retries_once_telling_the_model_why(any_server, make_provider, reply):
    if any_server.protocol == "openai":
        any_server.queue(reply.text('Sure! {"answer": "fine", "score": '))
    else:
        any_server.queue(reply.structured({"answer": "fine", "score": "high"}))
    any_server.queue(reply.structured({"answer": "fine", "score": 3}))

    completion = make_provider(any_server).complete(MESSAGES, schema=Verdict)

    assert completion.parsed == Verdict(answer="fine", score=3)
    assert completion.calls == 2
    first, second = any_server.requests
    assert completion.input_tokens > 0
    retry_turns = second.body["messages"][len(first.body["messages"]) :]
    assert [t["role"] for t in retry_turns] == ["assistant", "user"]
    correction = json.dumps(retry_turns[-1])
    if any_server.protocol == "openai":
        assert "not valid JSON" in correction
    else:
        # The rejected tool call is answered with an error tool_result naming the problem.
        [result] = retry_turns[-1]["content"]
        assert result["type"] == "tool_result" and result["is_error"] is True
        assert result["tool_use_id"] == retry_turns[0]["content"][0]["id"]
        assert "score" in correction


def test_invalid_twice_is_a_clean_engine_error(any_server, make_provider, reply):
    any_server.queue(reply.text("I cannot do JSON today."), reply.structured({"answer": 1}))
    with pytest.raises(EngineError) as caught:
        make_provider(any_server).complete(MESSAGES, schema=Verdict)
    assert "twice" in str(caught.value)
    assert len(any_server.requests) == 2


def test_429_honours_retry_after(any_server, make_provider, reply):
    rate_body = (
        {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit"}}
        if any_server.protocol == "openai"
        else {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    )
    any_server.queue(
        reply.error(429, rate_body, {"retry-after": "1"}),
        reply.structured({"answer": "ok", "score": 1}),
    )
    started = time.monotonic()
    completion = make_provider(any_server).complete(MESSAGES, schema=Verdict)
    elapsed = time.monotonic() - started
    assert completion.parsed == Verdict(answer="ok", score=1)
    assert len(any_server.requests) == 2
    assert elapsed >= 0.95


def test_retry_after_too_long_gives_up_at_once(openai_server, make_provider, reply):
    openai_server.queue(reply.error(429, {"error": {"message": "quota"}}, {"retry-after": "600"}))
    with pytest.raises(EngineError) as caught:
        make_provider(openai_server).complete(MESSAGES)
    # refused before any wait (the message is the give-up branch's), not timed: load stretches time
    assert "600" in str(caught.value) and "longer than" in str(caught.value)
    assert len(openai_server.requests) == 1


def test_persistent_5xx_is_bounded(openai_server, make_provider, reply):
    overloaded = reply.error(503, {"error": {"message": "overloaded"}}, {"retry-after-ms": "20"})
    openai_server.queue(*[overloaded] * 4)
    with pytest.raises(EngineError) as caught:
        make_provider(openai_server).complete(MESSAGES)
    assert "503" in str(caught.value)
    assert len(openai_server.requests) == 4  # one try plus three retries


def test_json_schema_rejected_falls_back_to_json_object(openai_server, make_provider, reply):
    openai_server.reject_json_schema = True
    openai_server.queue(reply.structured({"answer": "ok", "score": 2}))
    provider = make_provider(openai_server)

    completion = provider.complete(MESSAGES, schema=Verdict)

    assert completion.parsed == Verdict(answer="ok", score=2)
    schema_try, object_try = openai_server.requests
    assert schema_try.body["response_format"]["type"] == "json_schema"
    assert object_try.body["response_format"] == {"type": "json_object"}
    # The schema moves into the (single, leading) system message.
    assert [m["role"] for m in object_try.body["messages"]] == ["system", "user"]
    assert '"score"' in object_try.body["messages"][0]["content"]
    assert provider.json_mode == "json_object"


def test_missing_key_variable_is_a_clear_error():
    cfg = LLMConfig(provider="openai-compatible", model="m", api_key_env="SHUNTER_TEST_NO_SUCH_KEY")
    offered = {"SHUNTER_LLM_KEYS": "SHUNTER_TEST_NO_SUCH_KEY"}
    with pytest.raises(EngineError) as caught:
        provider_from_config(cfg, env=offered)
    assert "SHUNTER_TEST_NO_SUCH_KEY" in str(caught.value) and "not set" in str(caught.value)

    with pytest.raises(EngineError, match="api_key_env"):
        provider_from_config(LLMConfig(provider="anthropic", model="claude"), env={})
    with pytest.raises(EngineError, match="llm"):
        provider_from_config(None, env={})
    with pytest.raises(EngineError, match="model"):
        provider_from_config(LLMConfig(api_key_env="K"), env={"K": "x"})


def test_config_builds_a_working_provider(any_server, reply):
    cfg = LLMConfig(
        provider="openai-compatible" if any_server.protocol == "openai" else "anthropic",
        base_url=any_server.base_url,
        model="local-model",
        api_key_env="MY_LLM_KEY",
        timeout_seconds=5,
    )
    offered = {"SHUNTER_LLM_KEYS": f"OTHER,MY_LLM_KEY={any_server.base_url}/"}
    provider = provider_from_config(cfg, env={"MY_LLM_KEY": any_server.key, **offered})
    any_server.queue(reply.text("hi"))
    completion = provider.complete(MESSAGES)
    assert completion.text == "hi"
    assert completion.model == "local-model"
    assert completion.cost_usd is None  # no list price for an unknown model: unknown, not 0


def test_a_repository_cannot_send_a_key_where_the_operator_did_not_allow_it(openai_server):
    secrets = {
        "SHUNTER_WEBHOOK_SECRET": "hook-secret",
        "SHUNTER_LLM_API_KEY": "sk-operator",
        "MY_KEY": "k",
        "SHUNTER_OUTBOUND_URLS": openai_server.base_url,  # the server may be asked, not given keys
    }
    for cfg, env, expected in [
        # Shunter's own secrets are never keys, even when the operator lists them
        (LLMConfig(model="m", api_key_env="SHUNTER_WEBHOOK_SECRET"), {}, "does not offer"),
        (
            LLMConfig(model="m", api_key_env="SHUNTER_WEBHOOK_SECRET"),
            {"SHUNTER_LLM_KEYS": f"SHUNTER_WEBHOOK_SECRET={openai_server.base_url}"},
            "does not offer",
        ),
        (LLMConfig(model="m", api_key_env="MY_KEY"), {}, "does not offer"),  # not listed
        # the default key goes to the provider's own API only, not to a server the repo names
        (LLMConfig(base_url=openai_server.base_url, model="m", api_key_env="SHUNTER_LLM_API_KEY"), {}, "only sent to https://api.openai.com/v1"),
        (
            LLMConfig(base_url=openai_server.base_url + "/evil", model="m", api_key_env="MY_KEY"),
            {"SHUNTER_LLM_KEYS": f"MY_KEY={openai_server.base_url}"},
            "only sent to",
        ),
    ]:
        with pytest.raises(EngineError, match=expected) as caught:
            provider_from_config(cfg, env={**secrets, **env})
        assert "hook-secret" not in str(caught.value) and "sk-operator" not in str(caught.value)
    assert openai_server.requests == []
    # the default binding works where it points
    assert provider_from_config(LLMConfig(model="m", api_key_env="SHUNTER_LLM_API_KEY"), env=secrets)


def test_local_server_without_key_sends_no_authorization(keyless_openai_server, reply):
    cfg = LLMConfig(base_url=keyless_openai_server.base_url, model="llama3.1", timeout_seconds=5)
    with pytest.raises(EngineError, match="SHUNTER_OUTBOUND_URLS"):  # not one the operator allows
        provider_from_config(cfg, env={})
    provider = provider_from_config(cfg, env={"SHUNTER_OUTBOUND_URLS": keyless_openai_server.base_url})
    keyless_openai_server.queue(reply.structured({"answer": "ok", "score": 5}))
    assert provider.complete(MESSAGES, schema=Verdict).parsed == Verdict(answer="ok", score=5)
    assert "authorization" not in keyless_openai_server.requests[0].headers
    assert "key=none" in repr(provider)


def test_reported_cost_is_used(openai_server, make_provider, reply):
    answer = reply.text("ok")
    answer.headers["cost"] = "0.0123"
    openai_server.queue(answer)
    completion = make_provider(openai_server, "some/router-model").complete(MESSAGES)
    assert completion.cost_usd == pytest.approx(0.0123)


def test_key_never_in_logs_errors_or_reprs(any_server, make_provider, reply, caplog):
    caplog.set_level(logging.DEBUG)
    key = any_server.key
    good = make_provider(any_server)
    any_server.queue(reply.error(503, {"error": {"message": "busy"}}, {"retry-after-ms": "1"}))
    any_server.queue(reply.structured({"answer": "ok", "score": 1}))
    good.complete(MESSAGES, schema=Verdict)

    # A wrong key: the OpenAI fake echoes what it was sent, as api.openai.com does.
    wrong = key[:-6] + "WRONG1"
    bad = type(good)(base_url=any_server.base_url, model="m", api_key=wrong, timeout_seconds=5)
    with pytest.raises(EngineError) as caught:
        bad.complete(MESSAGES)
    rendered = "".join(traceback.format_exception(caught.value))

    everything = "\n".join(
        [
            caplog.text,
            rendered,
            str(caught.value),
            repr(good),
            repr(bad),
            repr(good._transport),
            str(vars(good)),
            str(vars(good._transport)),
        ]
    )
    assert "401" in str(caught.value)
    for secret in (key, wrong, key[-6:], wrong[-6:]):
        assert secret not in everything
    assert any("retrying" in record.getMessage() for record in caplog.records)


def test_providers_are_not_imported_by_non_llm_code_paths():
    code = (
        "import sys, bot.engines.llm, bot.stages.review_llm, bot.engines.llm.budget;"
        "print(sorted(m for m in ('httpx', 'httpcore', 'bot.engines.llm.openai_chat',"
        " 'bot.engines.llm.anthropic_messages') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_lazy_package_attributes_resolve():
    import bot.engines.llm as llm

    assert llm.OpenAICompatibleProvider is OpenAICompatibleProvider
    assert callable(llm.provider_from_config)
