"""What real servers send back, through the llm engine of test generation.

``propose`` asks the fake (speaking OpenAI's chat completions or Anthropic's messages API
over loopback) for tests of one function; the assertions are on what reaches the
maintainer (the round's note for the function), what was recorded as spent, and that no
half-written test becomes a candidate.
"""

from __future__ import annotations

import json

from bot.engines.testgen_changes import ChangedFunction
from bot.engines.testgen_llm import propose

SOURCE = "def parse_pair(raw):\n    key, _, value = raw.partition('=')\n    return key.strip(), value.strip()\n"
FN = ChangedFunction("kv/parse.py", "kv.parse", "parse_pair", 1, 3, frozenset({2, 3}))
TEST = {
    "name": "test_parse_pair",
    "imports": ["from kv.parse import parse_pair"],
    "code": "def test_parse_pair():\n    assert parse_pair(' a = b ') == ('a', 'b')\n",
}
PARTIAL = json.dumps({"tests": [TEST]})[:70]  # the JSON as far as the limit let it get


def _propose(provider, **kwargs):
    files = {"kv/parse.py": SOURCE.encode()}
    return propose(
        provider,
        [(FN, frozenset({2, 3}))],
        read=files.get,
        repo_paths=list(files),
        start=0,
        **kwargs,
    )


def test_an_answer_cut_off_at_max_tokens_keeps_nothing_and_names_the_setting(
    any_server, make_provider, reply
):
    if any_server.protocol == "openai":
        usage = {"prompt_tokens": 900, "completion_tokens": 4000, "total_tokens": 4900}
        cut_off = reply.openai(PARTIAL, finish_reason="length", usage=usage)
        field = "finish_reason: length"
    else:
        # cut short inside the tool call: the input holds what was whole, here no tests
        blocks = [{"type": "tool_use", "id": "toolu_01", "name": "record_answer", "input": {}}]
        usage = {"input_tokens": 900, "output_tokens": 4000}
        cut_off = reply.anthropic(blocks, stop_reason="max_tokens", usage=usage)
        field = "stop_reason: max_tokens"
    any_server.queue(reply.raw(cut_off))
    result = _propose(make_provider(any_server))
    assert result.candidates == []
    [note] = result.errors.values()
    sent = any_server.requests[0].body["max_tokens"]
    assert f"cut off at max_tokens={sent}" in note and field in note
    assert "raise llm.max_tokens_per_run (now 20000" in note
    assert "not valid JSON" not in note and "more capable model" not in note
    assert len(any_server.requests) == 1  # the same limit would cut it off again
    # billed, so counted: the stage's llm_tokens must not say the call was free
    assert (result.input_tokens, result.output_tokens) == (900, 4000)


def test_the_answer_limit_follows_llm_max_tokens_per_run(any_server, make_provider, reply):
    any_server.queue(reply.structured({"tests": [TEST]}))
    result = _propose(make_provider(any_server), tokens_per_run=100_000)
    assert [c.label for c in result.candidates] == ["test_parse_pair"]
    assert any_server.requests[0].body["max_tokens"] == 4096  # the most any answer gets


def test_refused_or_filtered_answers_name_the_reason_and_keep_nothing(any_server, make_provider, reply):
    if any_server.protocol == "openai":
        answers = [
            (reply.openai(None, refusal="I can't help with that."), "refused to answer (message.refusal)"),
            (reply.openai(None, finish_reason="content_filter"), "content filter"),
        ]
    else:
        said = [{"type": "text", "text": "I can't help with that."}]
        answers = [(reply.anthropic(said, stop_reason="refusal"), "refused to answer (stop_reason: refusal)")]
    for answer, words in answers:
        any_server.requests.clear()
        any_server.queue(reply.raw(answer))
        result = _propose(make_provider(any_server))
        assert result.candidates == []
        [note] = result.errors.values()
        assert words in note and "builtin engine" in note
        assert len(any_server.requests) == 1
        assert result.input_tokens == 1000 and result.output_tokens == 200


def test_only_the_tool_call_of_a_many_block_anthropic_answer_is_read(anthropic_server, make_provider, reply):
    thinking = {"type": "thinking", "thinking": 'I will write {"tests": []} first', "signature": "EqQB"}
    words = {"type": "text", "text": 'Here are tests: {"tests": []}'}
    unnamed = {"tests": [{"imports": [], "code": "def test_x():\n    pass\n"}]}
    first = [thinking, words, {"type": "tool_use", "id": "toolu_01", "name": "record_answer", "input": unnamed}]
    second = [thinking, {"type": "tool_use", "id": "toolu_02", "name": "record_answer", "input": {"tests": [TEST]}}]
    anthropic_server.queue(reply.raw(reply.anthropic(first)), reply.raw(reply.anthropic(second)))
    result = _propose(make_provider(anthropic_server))
    assert [c.label for c in result.candidates] == ["test_parse_pair"]
    assert result.errors == {}
    # the correction answers the tool call, after the answer's blocks passed back unchanged
    *_, assistant, correction = anthropic_server.requests[1].body["messages"]
    assert assistant == {"role": "assistant", "content": first}
    [result_block] = correction["content"]
    assert result_block["tool_use_id"] == "toolu_01" and result_block["is_error"] is True
    assert "tests.0.name" in result_block["content"]


def test_content_null_with_reasoning_content_is_asked_once_more(keyless_openai_server, make_provider, reply):
    # vLLM, llama.cpp and Ollama put a reasoning model's thinking in reasoning_content; a
    # model that only thought has content null
    thought = reply.openai(None, reasoning_content="The tests should cover {key, value}...")
    keyless_openai_server.queue(reply.raw(thought), reply.structured({"tests": [TEST]}))
    result = _propose(make_provider(keyless_openai_server))
    assert [c.label for c in result.candidates] == ["test_parse_pair"]
    second = keyless_openai_server.requests[1].body["messages"]
    assert "only reasoning" in second[-1]["content"]
    assert "The tests should cover" not in json.dumps(second)
