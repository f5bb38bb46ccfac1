"""Secrets planted in a pull request, through the whole loop (simulator over loopback HTTP,
real git, real Redis, the stages' real scanners): nothing Shunter writes to GitHub quotes
them, and neither the store's tables, Redis (rq's jobs too) nor the logs hold them."""

from __future__ import annotations

import contextlib
import json
import zlib

from sqlalchemy import select

from bot.store.tables import metadata

REPO = "octo/demo"
BASE = {"app.py": "def add(a, b):\n    return a + b\n", "README.md": "# demo\n"}
INLINE = "version: 1\nstages:\n  review:\n    inline_comments: true\n"
# realistic shapes, made up: an AWS key id, a Slack bot token, a hex key, a password
AWS_KEY = "AKIAQ7RZ3KX5LMN2PW4T"
SLACK = "xoxb-" + "1234567890-abcdefGHIJKLmnop"
HEX_KEY = "b3f1c9a7e25d4f8c0a6e9d2b7c4f1a8e3d6b9c2f5a8e1d4b7c0f3a6e9d2b5c8f"
PASSWORD = "Zq8#tLm2$wXv9!rKp4"


def _everything_posted(sim) -> str:
    """Every body Shunter sent the simulator: check runs (their annotations' raw_details
    too), comments, reviews and their review comments."""
    return json.dumps([r.body for r in sim.recorder.requests if r.kind == "api"], default=str)


def _everything_stored(stack) -> str:
    """Every row of every table, and every value Shunter (and rq) keeps in Redis."""
    rows = []
    with stack.runtime.store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows += [(table.name, tuple(row)) for row in conn.execute(select(table))]
    return json.dumps(rows, default=str) + "\n" + _everything_in_redis(stack)


def _readable(value: bytes) -> str:
    """A Redis value as text: rq keeps a job's payload zlib-compressed."""
    with contextlib.suppress(zlib.error):
        value = zlib.decompress(value)
    return value.decode("utf-8", "replace")


def _everything_in_redis(stack) -> str:
    """Every value under every key (strings, hashes, lists, sets, sorted sets, streams):
    the findings kept for /shunter explain and dismiss, the patch drafts kept for
    /shunter apply, rq's jobs with their payloads and return values."""
    redis, values = stack.redis, []
    for key in redis.scan_iter(count=1000):
        kind = redis.type(key).decode()
        if kind == "string":
            found = [redis.get(key) or b""]
        elif kind == "hash":
            found = [x for pair in redis.hgetall(key).items() for x in pair]
        elif kind == "list":
            found = redis.lrange(key, 0, -1)
        elif kind == "set":
            found = list(redis.smembers(key))
        elif kind == "zset":
            found = [member for member, _ in redis.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            found = [x for _, entry in redis.xrange(key) for pair in entry.items() for x in pair]
        else:
            found = []
        values.append(key.decode() + "\0" + "\0".join(_readable(v) for v in found))
    return "\n".join(values)


def _everything_logged(capfd) -> str:
    out, err = capfd.readouterr()
    return out + err


def test_a_fix_on_a_line_holding_a_secret_is_not_suggested(stack, capfd) -> None:
    """ruff's F541 fix rewrites the line (drops the `f`): its suggestion block, and the
    annotation's "suggested replacement", quoted each secret whole."""
    sim = stack.sim
    sim.create_repo(REPO, BASE)
    app = (
        "import os\n\n"
        f'AWS_ACCESS_KEY_ID = f"{AWS_KEY}"\n'
        f'SLACK = f"{SLACK}"\n'
        f'salt = f"{HEX_KEY}"\n'
        f'password = f"{PASSWORD}"\n'
        "\n\ndef add(a, b):\n    return a + b\n"
    )
    sim.commit(REPO, "feature", {"app.py": app, ".github/shunter.yml": INLINE}, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Keys", user="alice")
    stack.drain()

    comments = {c.line: c.body for c in sim.review_comments(REPO, number) if "`F541`" in c.body}
    assert sorted(comments) == [3, 4, 5, 6]
    for body in comments.values():
        assert "```suggestion" not in body
        assert "No suggestion shown: the lines this fix rewrites hold a secret" in body
    # a fix on a clean line is still suggested (F401 deletes `import os`)
    [unused] = [c.body for c in sim.review_comments(REPO, number) if "`F401`" in c.body]
    assert "```suggestion\n```" in unused
    review = next(r for r in sim.check_runs(REPO) if r.name == "shunter/review")
    details = [a.get("raw_details", "") for a in review.annotations if a["title"].startswith("F541")]
    assert len(details) == 4 and all("not shown: the lines hold a secret" in d for d in details)

    posted, stored, logged = _everything_posted(sim), _everything_stored(stack), _everything_logged(capfd)
    for secret in (AWS_KEY, SLACK, HEX_KEY, PASSWORD):
        assert secret not in posted, secret
        assert secret not in stored, secret
        assert secret not in logged, secret

    # what is kept for /shunter explain and apply says the fix was held back, and the
    # held-back fix cannot be applied from there either
    kept = {k.decode(): json.loads(v) for k, v in stack.redis.hgetall(f"shunter:findings:{REPO}#{number}").items()}
    [aws] = [f for f in kept.values() if f["rule_id"] == "F541" and f["start_line"] == 3]
    assert aws["suggestion"] is None and aws["suggestion_held_back"] is True
    head = sim.pull(REPO, number).head_sha
    sim.set_permission(REPO, "alice", "write")
    sim.comment(REPO, number, f"/shunter apply {aws['fingerprint'][:8]}", user="alice")
    stack.drain()
    [reply] = [c.body for c in sim.comments(REPO, number) if c.body.startswith("<!-- shunter:reply -->")]
    assert "is not the id of a finding with a fix on this head" in reply, reply
    assert sim.pull(REPO, number).head_sha == head
    assert AWS_KEY not in _everything_posted(sim) + _everything_stored(stack) + _everything_logged(capfd)


GITHUB_TOKEN = "ghp_" + "r8Xk2LmQ9vTz4NpW7sYb1HcJ6dFg3Ae5Ku0R"
KEY_BODY = "MIIEowIBAAKCAQEA7bq3Zk9tLm2Xw8QpV4sR1nY6uH0cJ5eDgFaKiBoTl3MzWxPy"
PRIVATE_KEY = f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\nq9Ue2Rt7Yo4Ip1As8Df5Gh3Jk6Lz0Xc\n-----END RSA PRIVATE KEY-----\n"


def test_planted_secrets_are_named_never_quoted_and_listed_once(stack, capfd) -> None:
    sim = stack.sim
    sim.create_repo(REPO, BASE)
    files = {
        "settings.py": f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"\nGITHUB_TOKEN = "{GITHUB_TOKEN}"\n',
        "deploy/key.pem": PRIVATE_KEY,
        ".github/shunter.yml": INLINE,
    }
    sim.commit(REPO, "feature", files, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Deploy", user="alice")
    stack.drain()

    security = next(r for r in sim.check_runs(REPO) if r.name == "shunter/security")
    assert security.conclusion == "failure"
    summary = security.summary or ""
    # each secret is named by kind, file and line, once: the check run had the stage's list
    # and then a table saying every finding again, the full message and advice in each row
    for rule, place in [
        ("secret.aws-access-key-id", "settings.py:1"),
        ("secret.github-token", "settings.py:2"),
        ("secret.private-key", "deploy/key.pem:1"),
    ]:
        assert summary.count(f"`{place}` `{rule}`") == 1, rule
    assert not security.text
    assert summary.lower().count("rotation is a human job") == 1
    assert {a["path"] for a in security.annotations} == {"settings.py", "deploy/key.pem"}
    assert any(c.path == "settings.py" for c in sim.review_comments(REPO, number))

    posted, stored, logged = _everything_posted(sim), _everything_stored(stack), _everything_logged(capfd)
    for secret in (AWS_KEY, GITHUB_TOKEN, GITHUB_TOKEN[:12], KEY_BODY, KEY_BODY[:16]):
        assert secret not in posted, secret
        assert secret not in stored, secret
        assert secret not in logged, secret


# The ids Shunter posted for these two lines before a password or a detect-secrets hit was
# masked whole: the fingerprint hashed the line with its first 4 characters kept
# (`Zq8#***`, `b3f1***`), and a /shunter dismiss made then names these ids.
OLD_IDS = {"secret.generic-secret-assignment": "95c7f21a", "secret.ds-hex-high-entropy-string": "ac7fe89a"}


def test_a_secret_without_a_public_prefix_shows_none_of_its_characters_and_keeps_its_id(stack, capfd) -> None:
    sim = stack.sim
    sim.create_repo(REPO, BASE)
    sim.set_permission(REPO, "tina", "triage")
    app = f'salt = "{HEX_KEY}"\npassword = "{PASSWORD}"\n'
    sim.commit(REPO, "feature", {"app.py": app}, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Keys", user="alice")
    stack.drain()

    security = next(r for r in sim.check_runs(REPO) if r.name == "shunter/security")
    summary = security.summary or ""
    for rule, short in OLD_IDS.items():
        [line] = [x for x in summary.splitlines() if f"`{rule}`" in x]
        assert "(`***`)" in line and line.endswith(f"· `{short}`"), line
    posted, stored, logged = _everything_posted(sim), _everything_stored(stack), _everything_logged(capfd)
    for secret in (HEX_KEY, PASSWORD):
        for shown in (secret[:n] + "***" for n in range(1, len(secret))):
            assert shown not in posted, shown
            assert shown not in stored, shown
            assert shown not in logged, shown
    assert PASSWORD[:4] not in posted and PASSWORD[:4] not in stored and PASSWORD[:4] not in logged

    # dismissed by the ids posted before the change, they stay dismissed on the next push
    sim.comment(REPO, number, "\n".join(f"/shunter dismiss {s} rotated" for s in OLD_IDS.values()), user="tina")
    stack.drain()
    assert len(stack.runtime.store.dismissed_fingerprints(REPO, number)) == 2
    sim.commit(REPO, "feature", {"README.md": "# demo 2\n"}, author="alice")
    stack.drain()
    head = sim.pull(REPO, number).head_sha
    [again] = [r for r in sim.check_runs(REPO) if r.name == "shunter/security" and r.head_sha == head]
    assert again.conclusion == "success", again.summary
    listed = [line for line in (again.summary or "").splitlines() if "/shunter undismiss" not in line]
    assert not any(short in line for line in listed for short in OLD_IDS.values()), again.summary
    assert "dismissed on this PR" in (again.summary or "")  # said once, with how to undo it
    assert not again.annotations


def test_a_password_in_an_f_string_is_reported(stack, capfd) -> None:
    """`password = f"..."` went unreported (and its ruff fix was offered): the pattern knew
    only the `b`, `r` and `u` prefixes. An f-string's fields are code, not a secret."""
    sim = stack.sim
    sim.create_repo(REPO, BASE)
    app = f'import settings\n\npassword = f"{PASSWORD}"\ntoken = f"{{settings.api_token}}"\nsecret_key = rb"{PASSWORD}"\n'
    sim.commit(REPO, "feature", {"app.py": app}, author="alice")
    sim.open_pull_request(REPO, "feature", title="Password", user="alice")
    stack.drain()

    security = next(r for r in sim.check_runs(REPO) if r.name == "shunter/security")
    assert security.conclusion == "failure"
    listed = [x for x in (security.summary or "").splitlines() if "`secret.generic-secret-assignment`" in x]
    assert [x.split("`")[1] for x in listed] == ["app.py:3", "app.py:5"], listed
    assert all("(`***`)" in x for x in listed)
    assert PASSWORD[:4] not in _everything_posted(sim)
    stored, logged = _everything_stored(stack), _everything_logged(capfd)
    assert PASSWORD[:4] not in stored and PASSWORD[:4] not in logged


def test_ruffs_fixes_for_lines_holding_a_secret_are_not_committed(stack, capfd) -> None:
    """Under `auto_apply: review: always` the merge queue committed ruff's F541 fixes to
    `AWS_ACCESS_KEY_ID = f"AKIA..."` and `password = f"..."`: Shunter re-committed both
    secrets in a commit it authored (only the suggestions were held back). That file's
    fixes are held back now, with a note saying why; the other file's fix still lands."""
    sim = stack.sim
    config = "version: 1\npatches:\n  auto_apply:\n    review: always\n"
    sim.create_repo(REPO, {**BASE, ".github/shunter.yml": config})
    sim.set_permission(REPO, "alice", "write")
    app = f'import os\n\nAWS_ACCESS_KEY_ID = f"{AWS_KEY}"\npassword = f"{PASSWORD}"\n'
    other = "import sys\n\n\ndef sub(a, b):\n    return a - b\n"
    first = sim.commit(REPO, "feature", {"app.py": app, "other.py": other}, author="alice")
    number = sim.open_pull_request(REPO, "feature", title="Keys", user="alice")
    stack.drain()

    head = sim.pull(REPO, number).head_sha
    assert head != first  # other.py's fix landed
    assert "import sys" not in sim.file(REPO, head, "other.py")
    assert sim.file(REPO, head, "app.py") == app  # untouched: no secret committed again
    [landed] = [e for e in stack.runtime.store.audit_events(repo=REPO) if e.action == "change.landed"]
    assert len(landed.payload["findings"]) == 1

    review = next(r for r in sim.check_runs(REPO, head_sha=first) if r.name == "shunter/review")
    summary = review.summary or ""
    assert "1 fix available" in summary and summary.count("_(fix available)_") == 1, summary
    assert "No fix patch for `app.py`: the lines ruff's fixes change" in (review.text or "") + summary
    posted, stored, logged = _everything_posted(sim), _everything_stored(stack), _everything_logged(capfd)
    for secret in (AWS_KEY, PASSWORD):
        assert secret not in posted, secret
        assert secret not in stored, secret
        assert secret not in logged, secret
