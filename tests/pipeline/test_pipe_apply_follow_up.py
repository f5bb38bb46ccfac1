"""``patches.push_to: pull_request`` after the author pushed again: a new ``/shunter apply``
finds the follow-up branch made for an older head. Shunter moves it to the new head (with a
compare-and-swap) when it holds only Shunter's own commits, says so in the reply, and never
drops a person's commit. Through the simulator, the real workers and real Redis."""

from __future__ import annotations

from pathlib import Path

import pygit2.remotes

from bot.git.locks import file_lock
from bot.git.mirror import lock_path
from tests.pipeline.test_pipe_apply import ON_COMMAND, REPO, open_pr, replies

FOLLOW_UP = ON_COMMAND + "  push_to: pull_request\n"
BRANCH = "refs/heads/shunter/feature-fixes"
MORE = {"util.py": "import json\n\n\ndef one():\n    return 1\n"}
"""The author's next push: one more unused import for the review stage to fix."""


def applied_once(stack) -> tuple[int, str]:
    """A PR whose fixes landed on the follow-up branch (follow-up PR opened); returns the
    PR's number and the branch's sha."""
    number = open_pr(stack, config=FOLLOW_UP)
    stack.sim.comment(REPO, number, "/shunter apply", user="alice")
    stack.drain()
    assert f"pull request #{number + 1}" in replies(stack.sim, number)[-1].body
    return number, stack.sim.ref(REPO, BRANCH)


def apply_again(stack, number: int) -> str:
    stack.sim.comment(REPO, number, "/shunter apply", user="alice")
    stack.drain()
    return replies(stack.sim, number)[-1].body


def author_pushes_and_the_branch_is_kept(stack, number: int) -> None:
    """The author pushes the PR, then asks again: the follow-up branch, which holds a
    person's commit, is neither moved nor pushed onto, and the reply says what to do."""
    sim = stack.sim
    theirs = sim.ref(REPO, BRANCH)
    sim.commit(REPO, "feature", MORE, author="alice")
    stack.drain()
    body = apply_again(stack, number)
    assert "commits Shunter did not make" in body and "merge shunter/feature-fixes into feature" in body, body
    assert sim.ref(REPO, BRANCH) == theirs


def mirror_fetches(stack, monkeypatch) -> list[bool]:
    """From now on, for each fetch into a mirror, whether the mirror's lock was held (every
    one must hold it: other jobs fetch into the mirror, and clean-up prunes or removes it
    under it; two applies moving one branch without it raced for git's lock file on its ref)."""
    mirrors = (Path(stack.runtime.settings.data_dir) / "mirrors").resolve()
    held: list[bool] = []
    create = pygit2.remotes.RemoteCollection.create_anonymous

    def spy(self, url):
        path = Path(self._repo.path).resolve()
        if path.is_relative_to(mirrors):
            with file_lock(lock_path(path), blocking=False, touch=False) as free:
                held.append(not free)
        return create(self, url)

    monkeypatch.setattr(pygit2.remotes.RemoteCollection, "create_anonymous", spy)
    return held


def test_after_the_author_pushes_the_follow_up_branch_moves_to_the_new_head(stack, monkeypatch):
    number, old_fixes = applied_once(stack)
    sim = stack.sim
    sim.commit(REPO, "feature", MORE, author="alice")
    stack.drain()
    new_head = sim.pull(REPO, number).head_sha
    fetches = mirror_fetches(stack, monkeypatch)
    body = apply_again(stack, number)
    assert fetches and all(fetches), fetches  # the move fetched the branch under the lock too
    assert "could not apply" not in body and "force-push" not in body, body
    assert f"Moved `shunter/feature-fixes` from `{old_fixes[:7]}` to this pull request's head `{new_head[:7]}`" in body
    assert "Shunter pushed" in body and f"pull request #{number + 1}" in body, body
    fixes = sim.ref(REPO, BRANCH)
    assert fixes not in (old_fixes, new_head)
    assert "import json" not in sim.file(REPO, fixes, "util.py")  # the new head's fixes ...
    assert "import os" not in sim.file(REPO, fixes, "app.py")  # ... all of them, made again
    assert [p.number for p in sim.world.pulls_of(REPO) if p.head_ref == "shunter/feature-fixes"] == [number + 1]
    assert any(e.action == "branch.move" for e in stack.runtime.store.audit_events(repo=REPO))


def test_after_a_force_push_the_follow_up_branch_moves_to_the_rewritten_head(stack):
    number, old_fixes = applied_once(stack)
    sim = stack.sim
    main = sim.ref(REPO, "refs/heads/main")
    sim.commit(REPO, "feature", {"app.py": "import re\n\n\ndef add(a, b):\n    return a + b\n"}, author="alice", parent=main)
    stack.drain()
    new_head = sim.pull(REPO, number).head_sha
    body = apply_again(stack, number)
    assert f"to this pull request's head `{new_head[:7]}`" in body and "Shunter pushed" in body, body
    fixes = sim.ref(REPO, BRANCH)
    assert fixes != old_fixes and "import re" not in sim.file(REPO, fixes, "app.py")


def test_a_persons_commit_on_the_follow_up_branch_is_never_dropped(stack):
    number, _ = applied_once(stack)
    sim = stack.sim
    sim.commit(REPO, "shunter/feature-fixes", {"notes.md": "bob's work\n"}, author="bob")
    author_pushes_and_the_branch_is_kept(stack, number)


def test_a_closed_follow_up_pull_request_is_replaced_by_a_new_one(stack):
    number, _ = applied_once(stack)
    sim = stack.sim
    sim.close_pull_request(REPO, number + 1)
    sim.commit(REPO, "feature", MORE, author="alice")
    stack.drain()
    body = apply_again(stack, number)
    assert f"Pull request #{number + 1} is closed" in body, body
    opened = [p for p in sim.world.pulls_of(REPO) if p.head_ref == "shunter/feature-fixes" and p.state == "open"]
    assert len(opened) == 1 and opened[0].number != number + 1
    assert f"pull request #{opened[0].number}" in body


def test_a_persons_amended_fix_keeping_shunters_trailer_is_never_dropped(stack):
    """``git commit --amend`` (or a rebase, a cherry-pick) of Shunter's fix keeps its
    ``Shunter-Change`` trailer: the trailer alone does not make the commit Shunter's, only
    a commit Shunter itself pushed there is one it may leave behind."""
    number, fixes = applied_once(stack)
    sim = stack.sim
    shunters = sim.world.repo(REPO).git[fixes]
    start = str(shunters.parent_ids[0])
    amended = dict(MORE) | {"notes.md": "bob's tweak of the fix\n"}
    sim.commit(REPO, "shunter/feature-fixes", amended, message=shunters.message, author="bob", parent=start)
    author_pushes_and_the_branch_is_kept(stack, number)
