"""The llm engine through the whole loop (simulator over loopback HTTP, real git, real
Redis, the fake LLM server on loopback): a pull request adding secrets has them masked in
every request the provider receives, and a model that writes a secret back gets it
published masked, on the check run, the inline comments and `/shunter explain`'s reply."""

from __future__ import annotations

import json

from tests.llm.conftest import structured, text
from tests.pipeline.test_pipe_commands import answer
from tests.pipeline.test_pipe_secrets import _everything_posted, _everything_stored

REPO = "octo/demo"
BASE = {"app.py": "def add(a, b):\n    return a + b\n", "README.md": "# demo\n"}
AWS_KEY = "AKIAQ7RZ3KX5LMN2PW4T"  # realistic shapes, made up
GITHUB_TOKEN = "ghp_" + "Vb4Nq8Zt2Lx6Kp1Wm9Rc3Hs7Jd5Fy0Ga2Ue8"
STRIPE = "sk_live_" + "9fQ2wLx7TzR4mN8pK3vB6cYd"
APP = f'import os\n\nAWS_ACCESS_KEY_ID = "{AWS_KEY}"\nTOKEN = "{GITHUB_TOKEN}"\n\n\ndef add(a, b):\n    return a + b\n'


def test_no_secret_reaches_the_provider_and_none_it_writes_is_published(stack, llm) -> None:
    sim = stack.sim
    config = f"stages:\n  review:\n    engine: llm\nllm:\n  base_url: {llm.base_url}\n  model: qwen2.5-coder\n"
    sim.create_repo(REPO, {**BASE, ".github/shunter.yml": config})
    sim.set_permission(REPO, "alice", "write")
    llm.queue(
        structured(
            {
                "findings": [
                    {"path": "app.py", "line": 3, "severity": "error", "category": "security",
                     "message": f"Hard-coded key; rotate it to something like {STRIPE}.",
                     "suggestion": 'AWS_ACCESS_KEY_ID = "AKIA***"'},
                ]
            }
        )
    )  # fmt: skip
    sim.commit(REPO, "feature", {"app.py": APP}, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Keys", user="alice")
    stack.drain()

    [request] = llm.requests
    sent = json.dumps(request.body)
    assert AWS_KEY not in sent and GITHUB_TOKEN not in sent
    assert '     3 +AWS_ACCESS_KEY_ID = \\"AKIA***\\"' in sent  # masked, on its own line
    review = next(r for r in sim.check_runs(REPO) if r.name == "shunter/review")
    assert "2 secrets were masked in the text sent to the model" in f"{review.summary}\n{review.text}"
    [annotation] = [a for a in review.annotations if "llm/security" in json.dumps(a)]
    assert "rotate it to something like sk_live_***." in annotation["message"]
    [comment] = [c.body for c in sim.review_comments(REPO, number) if "llm/security" in c.body]
    assert "```suggestion" not in comment and "No suggestion shown" in comment

    kept = {k.decode(): json.loads(v) for k, v in stack.redis.hgetall(f"shunter:findings:{REPO}#{number}").items()}
    [finding_id] = [k for k, f in kept.items() if f["rule_id"] == "llm/security"]
    llm.queue(text(f"Anyone with `api_key = \"{STRIPE}\"` can charge cards; rotate {AWS_KEY}."))
    reply = answer(stack, number, f"/shunter explain {finding_id[:8]}", user="alice")
    assert 'Anyone with `api_key = "sk_live_***"` can charge cards; rotate AKIA***.' in reply
    assert len(llm.requests) == 2 and AWS_KEY not in json.dumps(llm.requests[1].body)

    everywhere = _everything_posted(sim) + _everything_stored(stack)
    for secret in (AWS_KEY, GITHUB_TOKEN, STRIPE):
        assert secret not in everywhere, secret
