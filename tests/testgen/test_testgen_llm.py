"""The llm engine's Cover-Agent loop against a real HTTP server on loopback that speaks
OpenAI's chat-completions protocol, with real validation in the sandbox.

``parse_pair`` has untyped arguments, so the ghostwriter can propose nothing. Round 1 of
the model's answers holds a test with a wrong expectation and one with broken syntax; both
are discarded, the second request carries that feedback, and round 2's test is kept.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bot.engines.llm.openai_chat import OpenAICompatibleProvider
from bot.engines.testgen_llm import ProposedTest, candidate_source
from bot.policies.schema import TestsStageConfig as StageOptions
from bot.sandbox.bubblewrap import find_bwrap, probe
from bot.stages import tests as tests_stage

BASE = {"kv/__init__.py": "", "kv/parse.py": "SEP = '='\n"}
HEAD = {
    **BASE,
    "kv/parse.py": (
        "SEP = '='\n\n\n"
        "def parse_pair(raw):\n"
        "    key, _, value = raw.partition(SEP)\n"
        "    return key.strip(), value.strip()\n"
    ),
}
WRONG = {
    "name": "test_parse_pair_wrong",
    "imports": ["from kv.parse import parse_pair"],
    "code": "def test_parse_pair_wrong():\n    assert parse_pair('a=b') == ('b', 'a')\n",
}
BROKEN = {"name": "test_broken", "imports": [], "code": "def test_broken(:\n    pass\n"}
RIGHT = {
    "name": "test_parse_pair",
    "imports": ["from kv.parse import parse_pair"],
    "code": "def test_parse_pair():\n    assert parse_pair(' a = b ') == ('a', 'b')\n",
}


class ChatServer:
    """Answers each POST /v1/chat/completions with the next scripted JSON content."""

    def __init__(self, answers: list[dict[str, Any]], *, finish_reason: str = "stop") -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.requests.append(body)
                content = json.dumps(outer.answers.pop(0) if outer.answers else {"tests": []})
                if finish_reason == "length":  # as far as the limit let the answer get
                    content = content[: len(content) // 2]
                message = {"role": "assistant", "content": content}
                # a server counts the tokens it wrote: all of max_tokens when cut off
                written = body["max_tokens"] if finish_reason == "length" else 50
                reply = {
                    "model": body["model"],
                    "choices": [{"message": message, "finish_reason": finish_reason}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": written},
                }
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    server = ChatServer([{"tests": [WRONG, BROKEN]}, {"tests": [RIGHT]}])
    yield server
    server.close()


@pytest.mark.skipif(
    find_bwrap() is None or probe(find_bwrap() or "", None) is not None,
    reason="bubblewrap is not usable on this machine",
)
def test_cover_agent_loop_keeps_only_validated_tests(make_context, chat: ChatServer) -> None:
    provider = OpenAICompatibleProvider(base_url=chat.base_url, model="fake-model")
    opts = StageOptions(engine="llm", timeout_seconds=60, time_budget_seconds=120)
    result = tests_stage.run(make_context(BASE, HEAD, options=opts), llm=provider)
    m = result.metrics
    assert len(chat.requests) == 2
    first, second = (json.dumps(r["messages"]) for r in chat.requests)
    assert "BEGIN-UNTRUSTED-" in first and "# <- not covered" in first
    assert "discarded" in second and "test_parse_pair_wrong: fails" in second
    assert "test_broken: does-not-import" in second
    assert m["kept"] == 1 and m["discards"]["fails"] == 1
    assert m["discards"]["does-not-import"] == 1
    assert m["covered_after"] == m["changed_lines"] > m["covered_before"]
    assert m["llm_tokens"] == {"input": 200, "output": 100}
    (patch,) = result.patches
    assert "def test_parse_pair():" in patch.files[0].diff
    assert "test_parse_pair_wrong" not in patch.files[0].diff


# a parenthesised import over several lines, as models write them; the repository already
# has a test file for the module, so the test is merged into it after its imports
PARENTHESISED = {
    "name": "test_parse_pair_around_sep",
    "imports": ["from kv.parse import (\n    SEP,\n    parse_pair,\n)"],
    "code": "def test_parse_pair_around_sep():\n    assert parse_pair(' a ' + SEP + ' b ') == ('a', 'b')\n",
}
EXISTING_TESTS = {
    "tests/test_parse.py": "import kv.parse\n\n\ndef test_sep():\n    assert kv.parse.SEP == '='\n"
}


@pytest.mark.skipif(
    find_bwrap() is None or probe(find_bwrap() or "", None) is not None,
    reason="bubblewrap is not usable on this machine",
)
def test_a_multi_line_import_is_merged_whole(make_context) -> None:
    # only its first line was taken as an import: the names and ')' landed among the tests,
    # the merged file did not compile, and the test that passed alone was never offered
    server = ChatServer([{"tests": [PARENTHESISED]}])
    try:
        provider = OpenAICompatibleProvider(base_url=server.base_url, model="fake-model")
        opts = StageOptions(engine="llm", timeout_seconds=60, time_budget_seconds=120)
        base, head = {**BASE, **EXISTING_TESTS}, {**HEAD, **EXISTING_TESTS}
        result = tests_stage.run(make_context(base, head, options=opts), llm=provider)
    finally:
        server.close()
    assert not any("did not pass as a whole" in note for note in result.notes)
    assert result.metrics["kept"] == 1
    (patch,) = result.patches
    (diff,) = [f.diff for f in patch.files if f.path == "tests/test_parse.py"]
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert "from kv.parse import SEP, parse_pair" in added
    assert "def test_parse_pair_around_sep():" in added
    assert not any(line.strip() in ("SEP,", "parse_pair,", ")") for line in added)


@pytest.mark.skipif(
    find_bwrap() is None or probe(find_bwrap() or "", None) is not None,
    reason="bubblewrap is not usable on this machine",
)
def test_an_answer_cut_off_is_not_asked_for_again_and_says_what_to_raise(make_context) -> None:
    # round 2 sent round 1's request again (no discarded tests to tell the model about),
    # to be cut off again; the note named no setting
    server = ChatServer([{"tests": [RIGHT]}] * 2, finish_reason="length")
    try:
        provider = OpenAICompatibleProvider(base_url=server.base_url, model="fake-model")
        opts = StageOptions(engine="llm", timeout_seconds=60, time_budget_seconds=120)
        result = tests_stage.run(
            make_context(BASE, HEAD, options=opts), llm=provider, llm_tokens_per_run=12_000
        )
    finally:
        server.close()
    assert [r["max_tokens"] for r in server.requests] == [2400]
    [note] = [n for n in result.notes if "llm engine" in n]
    assert "cut off at max_tokens=2400" in note and "raise llm.max_tokens_per_run (now 12000" in note
    assert result.metrics["kept"] == 0 and not result.patches
    assert result.metrics["llm_tokens"] == {"input": 100, "output": 2400}


def test_the_stage_job_gives_test_generation_the_repositorys_token_budget(make_context, monkeypatch) -> None:
    from bot.models import StageName
    from bot.pipeline import stage_job

    seen: dict[str, Any] = {}
    monkeypatch.setattr(tests_stage, "run", lambda ctx, **kwargs: seen.update(kwargs) or "ran")
    monkeypatch.setenv("SHUNTER_OUTBOUND_URLS", "http://127.0.0.1:9/v1")
    llm = {"base_url": "http://127.0.0.1:9/v1", "model": "m", "max_tokens_per_run": 12_000}
    ctx = make_context(BASE, HEAD, options=StageOptions(engine="llm"))
    assert stage_job._run_engine(StageName.TESTS, ctx, {"llm": llm}) == "ran"
    assert seen["llm_tokens_per_run"] == 12_000 and seen["llm"].model == "m"


def test_llm_selected_without_provider_says_so(make_context) -> None:
    opts = StageOptions(engine="llm", max_generated_tests=0)
    result = tests_stage.run(make_context(BASE, HEAD, trusted=False, options=opts))
    assert result.neutral  # refused before anything ran: untrusted, policy default
    assert result.metrics["llm_tokens"] == {"input": 0, "output": 0}


def test_unusable_proposals_are_rejected_before_running() -> None:
    ok, why = candidate_source(ProposedTest(**RIGHT))
    assert ok is not None and why == ""
    bad_import = ProposedTest(name="test_x", imports=["os.system('x')"], code="def test_x(): pass")
    assert candidate_source(bad_import)[0] is None
    wrong_name = ProposedTest(name="check", imports=[], code="def check(): pass")
    assert "not a pytest test name" in candidate_source(wrong_name)[1]
    missing = ProposedTest(name="test_y", imports=[], code="def test_z(): pass")
    assert "does not define test_y" in candidate_source(missing)[1]
