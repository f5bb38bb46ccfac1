"""Landing change requests on a real bare repository through the queue and the worker."""

from __future__ import annotations

import contextlib
import time

import pytest
from mq_forge import edited, module_text

from bot.changes.model import Priority
from bot.queue.merge_worker import FALLBACK_SIGNATURE, NoHooks, process_once

ALICE = "1001+alice@users.noreply.github.com"


class Recorder(NoHooks):
    def __init__(self) -> None:
        self.reports = []
        self.dead = []
        self.set_aside_ids = {}

    def landed(self, report):  # type: ignore[override]
        self.reports.append(report)

    def dead_lettered(self, letter):  # type: ignore[override]
        self.dead.append(letter)

    def set_aside(self, queue, change_id, detail):  # type: ignore[override]
        self.set_aside_ids[change_id] = (queue, detail)


def test_one_change_lands_with_template_and_trailers(forge, mq, git_policy, store_factory):
    git_policy.commit_message = "shunter({stage}): {title}"
    cr = forge.change(
        {"src/mod1.py": edited(1)}, title="tidy mod1", requester="alice", requester_email=ALICE
    )
    result = mq.submit(cr, forge.base_tree(), git_policy, {"contents": "write"})
    assert result.created and result.state == "waiting"
    hooks = Recorder()
    outcome = process_once(mq, store_factory("w1"), owner_id="w1", hooks=hooks)
    assert outcome is not None and outcome.report is not None
    report = outcome.report
    assert report.change_ids == [cr.id]
    assert report.files == ["src/mod1.py"]
    assert report.pushes == 1 and report.refused_pushes == 0 and report.method == "git"
    assert forge.head() == report.commit_sha
    commit = forge.refresh()[report.commit_sha]
    assert commit.message.startswith("shunter(review): tidy mod1\n")
    assert f"Shunter-Change: {cr.id}" in commit.message
    assert f"Co-authored-by: alice <{ALICE}>" in commit.message
    # no bot user known here (no App credentials): an author GitHub links to no account
    assert (commit.author.name, commit.author.email) == FALLBACK_SIGNATURE
    assert (commit.committer.name, commit.committer.email) == FALLBACK_SIGNATURE
    assert forge.read("src/mod1.py") == edited(1)
    assert mq.get(cr.id).state == "landed"
    assert hooks.reports == [report]
    assert process_once(mq, store_factory("w1"), owner_id="w1") is None


def test_enqueue_is_idempotent(forge, mq, git_policy):
    cr = forge.change({"src/mod1.py": edited(1)})
    first = mq.submit(cr, forge.base_tree(), git_policy, {})
    again = mq.submit(cr, forge.base_tree(), git_policy, {})
    assert first.created and not again.created
    assert [e.id for e in mq.entries()] == [cr.id]


def test_moved_head_applies_three_way(forge, mq, git_policy, store_factory):
    base = forge.head()
    cr = forge.change({"src/mod3.py": edited(3)}, sha=base)
    mq.submit(cr, forge.base_tree(base), git_policy, {})
    # a person changes the same file elsewhere (first function) and another file
    human = module_text(3).replace(b"return x + 0\n", b"return x + 0  # human\n")
    forge.human_commit({"src/mod3.py": human, "README.md": b"# widgets v2\n"})
    outcome = process_once(mq, store_factory("w"), owner_id="w")
    assert outcome.report and outcome.report.change_ids == [cr.id]
    merged = forge.read("src/mod3.py")
    assert b"# human" in merged and b"# edited" in merged
    assert forge.read("README.md") == b"# widgets v2\n"
    assert len(forge.history()[0].parents) == 1


def test_true_conflict_goes_to_dead_letter_with_paths_and_hunks(forge, mq, git_policy, store_factory):
    base = forge.head()
    cr = forge.change({"src/mod4.py": edited(4, "shunter")}, sha=base)
    mq.submit(cr, forge.base_tree(base), git_policy, {})
    forge.human_commit({"src/mod4.py": edited(4, "human")})
    before = forge.head()
    hooks = Recorder()
    outcome = process_once(mq, store_factory("w"), owner_id="w", hooks=hooks)
    assert outcome.report is None and forge.head() == before
    [letter] = outcome.dead
    assert letter.reason == "conflict"
    assert "src/mod4.py" in letter.detail and "@@ -" in letter.detail
    assert "src/mod4.py:L" in letter.detail  # the conflict region in the merged file
    assert hooks.dead == [letter]
    entry = mq.get(cr.id)
    assert entry.state == "dead" and entry.fields["dead_reason"] == "conflict"
    assert "src/mod4.py" in entry.fields["dead_detail"]


def test_a_conflict_names_only_the_hunks_that_meet_the_branchs_edits(forge, mq, git_policy, store_factory):
    """As with ruff's fixes on Flask's helpers.py, an unused import removed at the top and
    a line fixed far below: the author rewrote the line below, and only that hunk is named."""
    base = forge.head()
    fixed = module_text(5).replace(b"return x + 0\n", b"return x\n").replace(b"return x + 5\n", b"return x + 5 \n")
    cr = forge.change({"src/mod5.py": fixed}, sha=base)
    [top, below] = [line for line in cr.files[0].diff.splitlines() if line.startswith("@@")]
    mq.submit(cr, forge.base_tree(base), git_policy, {})
    forge.human_commit({"src/mod5.py": module_text(5).replace(b"return x + 5\n", b"return 5 + x\n")})
    [letter] = process_once(mq, store_factory("w"), owner_id="w").dead
    assert letter.reason == "conflict"
    assert f"src/mod5.py: {below}" in letter.detail and top not in letter.detail, letter.detail


def test_batch_lands_as_one_commit_with_all_ids(forge, mq, git_policy, store_factory):
    crs = [forge.change({f"src/mod{i}.py": edited(i)}, title=f"fix {i}", requester_email=ALICE) for i in range(5)]
    for cr in crs:
        mq.submit(cr, forge.base_tree(), git_policy, {})
    outcome = process_once(mq, store_factory("w"), owner_id="w")
    assert outcome.report.change_ids == [c.id for c in crs]
    assert outcome.report.pushes == 1
    message = forge.refresh()[forge.head()].message
    assert message.startswith("shunter: apply 5 changes\n")
    for cr in crs:
        assert f"Shunter-Change: {cr.id}" in message
    assert message.count("Co-authored-by: alice") == 1
    assert len(forge.history()) == 2


def test_overlapping_paths_are_not_batched_together(forge, mq, git_policy, store_factory):
    a = forge.change({"src/mod1.py": edited(1)}, title="a")
    b = forge.change({"src/mod1.py": edited(1, "other"), "src/mod2.py": edited(2)}, title="b")
    mq.submit(a, forge.base_tree(), git_policy, {})
    mq.submit(b, forge.base_tree(), git_policy, {})
    first = process_once(mq, store_factory("w"), owner_id="w")
    assert first.claimed == [a.id]
    second = process_once(mq, store_factory("w"), owner_id="w")
    assert second.claimed == [b.id]
    assert second.dead and second.dead[0].reason == "conflict"


def test_priority_before_fifo(forge, mq, git_policy):
    auto = forge.change({"src/mod1.py": edited(1)}, title="auto", priority=Priority.AUTO)
    req = forge.change({"src/mod1.py": edited(1, "r")}, title="req")
    maint = forge.change({"src/mod1.py": edited(1, "m")}, title="m", priority=Priority.MAINTAINER)
    req2 = forge.change({"src/mod1.py": edited(1, "r2")}, title="req2")
    for cr in (auto, req, maint, req2):
        mq.enqueue(cr, git_policy)
    order = []
    while (claim := mq.claim("w")) is not None:
        order += claim.ids
        for change_id in claim.ids:
            mq.finish_landed(claim, change_id, "0" * 40)
        mq.unlock(claim)
    assert order == [maint.id, req.id, req2.id, auto.id]


def test_human_push_racing_shunter_push_is_refused_then_lands(forge, mq, git_policy, store_factory):
    cr = forge.change({"src/mod7.py": edited(7)})
    mq.submit(cr, forge.base_tree(), git_policy, {})

    class Racer(NoHooks):
        raced = 0

        def before_push(self, claim, commit_sha):  # type: ignore[override]
            if not self.raced:  # the person pushes between our fetch and our push
                self.raced += 1
                forge.human_commit({"README.md": b"# raced\n"}, "human push")

    outcome = process_once(mq, store_factory("w"), owner_id="w", hooks=Racer())
    report = outcome.report
    assert report.change_ids == [cr.id]
    assert report.pushes == 2 and report.refused_pushes == 1
    history = forge.history()
    assert [c.message.splitlines()[0] for c in history[:2]] == ["shunter: fix", "human push"]
    assert forge.read("README.md") == b"# raced\n"
    assert forge.read("src/mod7.py") == edited(7)
    assert all(len(c.parents) <= 1 for c in history)


def test_worker_dying_after_push_does_not_land_twice(forge, redis_client, git_policy, store_factory):
    from bot.queue.merge import MergeQueue, QueueSettings

    mq = MergeQueue(redis_client, QueueSettings(lease_seconds=0.5, backoff_base=0.01))
    cr = forge.change({"src/mod8.py": edited(8)})
    mq.submit(cr, forge.base_tree(), git_policy, {})

    class DieAfterPush(NoHooks):
        def after_push(self, claim, landed_sha):  # type: ignore[override]
            raise SystemExit("the worker dies after its push, before recording it")

    with contextlib.suppress(SystemExit):
        process_once(mq, store_factory("w1"), owner_id="w1", hooks=DieAfterPush())
    assert mq.get(cr.id).state == "leased"
    pushed = forge.head()
    time.sleep(0.7)  # the dead worker's lease expires
    outcome = process_once(mq, store_factory("w2"), owner_id="w2")
    assert outcome.report.already_landed == {cr.id: pushed}
    assert outcome.report.pushes == 0
    assert forge.head() == pushed
    assert forge.trailer_counts() == {cr.id: 1}
    entry = mq.get(cr.id)
    assert entry.state == "landed" and entry.fields["landed_sha"] == pushed
    assert entry.attempts == 2


@pytest.mark.parametrize("moved", [False, True], ids=["same-head", "head-moved"])
def test_delete_and_rename_land(forge, mq, git_policy, store_factory, moved):
    from bot.changes.model import ChangeRequest
    from bot.models import FileDiff

    tree = forge.refresh()[forge.head()].tree
    readme = str(tree["README.md"].id)
    guide = str(tree["docs/guide.md"].id)
    delete = FileDiff(
        path="README.md",
        pre_image_blob=readme,
        diff="diff --git a/README.md b/README.md\ndeleted file mode 100644\n--- a/README.md\n"
        "+++ /dev/null\n@@ -1,3 +0,0 @@\n-# widgets\n-\n-A project.\n",
    )
    rename = FileDiff(
        path="docs/manual.md",
        old_path="docs/guide.md",
        pre_image_blob=guide,
        diff="diff --git a/docs/guide.md b/docs/manual.md\nsimilarity index 80%\n"
        "rename from docs/guide.md\nrename to docs/manual.md\n"
        "--- a/docs/guide.md\n+++ b/docs/manual.md\n@@ -1,2 +1,2 @@\n-# Guide\n+# Manual\n \n",
    )
    cr = ChangeRequest(
        id="cr-tidy",
        repo="acme/widgets",
        branch="main",
        head_sha=forge.head(),
        title="tidy docs",
        files=[delete, rename],
        requester="alice",
    )
    mq.submit(cr, forge.base_tree(), git_policy, {})
    if moved:  # a person edits the renamed file's last line meanwhile: 3-way with renames
        forge.human_commit({"docs/guide.md": b"# Guide\n\nline one\nline two\nline 3\n"})
    outcome = process_once(mq, store_factory("w"), owner_id="w")
    assert outcome.report.change_ids == ["cr-tidy"], outcome
    assert sorted(outcome.report.files) == ["README.md", "docs/guide.md", "docs/manual.md"]
    tree = forge.refresh()[forge.head()].tree
    assert "README.md" not in tree and "docs/guide.md" not in tree
    manual = forge.read("docs/manual.md")
    assert manual.startswith(b"# Manual\n\nline one\n")
    assert manual.endswith(b"line 3\n" if moved else b"line three\n")


def test_partial_deletion_that_bypassed_validation_deletes_nothing(forge, mq, git_policy, store_factory):
    """The worker holds the same line as validation: a deletion whose hunks leave lines in
    the file is a conflict, not a whole-file delete."""
    from bot.changes.model import ChangeRequest
    from bot.models import FileDiff

    blob = str(forge.refresh()[forge.head()].tree["src/mod1.py"].id)
    partial = FileDiff(
        path="src/mod1.py",
        pre_image_blob=blob,
        diff="diff --git a/src/mod1.py b/src/mod1.py\ndeleted file mode 100644\n"
        '--- a/src/mod1.py\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-"""Module 1."""\n',
    )
    cr = ChangeRequest(
        id="cr-partial-delete",
        repo="acme/widgets",
        branch="main",
        head_sha=forge.head(),
        title="tidy docstring",
        files=[partial],
        requester="alice",
    )
    mq.enqueue(cr, git_policy)  # straight into the queue, as a stale or forged entry would be
    before = forge.head()
    outcome = process_once(mq, store_factory("w"), owner_id="w")
    assert outcome.report is None and forge.head() == before
    [letter] = outcome.dead
    assert letter.reason == "conflict" and "remove only 1 of its 27 lines" in letter.detail
    assert forge.read("src/mod1.py") == module_text(1)


@pytest.mark.parametrize(
    ("adds", "human", "why"),
    [
        (
            "notes",
            {"notes/a.md": b"human A\n", "notes/b.md": b"human B\n"},
            "the change adds the file notes, but the branch now has a folder notes/",
        ),
        (
            "tools/run.py",
            {"tools": b"echo human\n"},
            "the change adds files under tools/, but the branch now has a file tools",
        ),
        ("fresh.py", {"fresh.py": b"human = 1\n"}, "the branch added fresh.py too, with other content"),
    ],
    ids=["file-over-new-directory", "file-under-new-file", "both-added"],
)
def test_added_file_colliding_with_a_newer_file_or_directory_is_a_conflict(
    forge, mq, git_policy, store_factory, adds, human, why
):
    """A person adds ``notes/`` (or a file ``tools``) after the change adding ``notes`` (or
    ``tools/run.py``) was computed: the human's files stay and the change is a conflict, not
    a commit that silently replaces them (or an empty commit marked landed)."""
    cr = forge.change({adds: b"print(1)\n"}, title="add a file")
    mq.submit(cr, forge.base_tree(), git_policy, {})
    forge.human_commit(human, "human adds files")
    before = forge.head()
    outcome = process_once(mq, store_factory("w"), owner_id="w")
    assert outcome.report is None and forge.head() == before
    [letter] = outcome.dead
    assert letter.reason == "conflict" and why in letter.detail
    assert "the branch changed the same lines" not in letter.detail  # it did not
    for path, data in human.items():
        assert forge.read(path) == data


def test_a_change_to_a_file_the_branch_deleted_says_so(forge, mq, git_policy, store_factory):
    cr = forge.change({"src/mod2.py": module_text(2).replace(b"Module 2", b"Module two")}, title="reword")
    mq.submit(cr, forge.base_tree(), git_policy, {})
    forge.human_commit({"src/mod2.py": None}, "human removes mod2")
    outcome = process_once(mq, store_factory("w"), owner_id="w")
    [letter] = outcome.dead
    assert letter.reason == "conflict"
    assert "the branch deleted src/mod2.py, which the change edits" in letter.detail
    assert "the branch changed the same lines" not in letter.detail


def chmod_on_branch(forge, path: str, mode: int) -> str:
    """A person changes only the mode of ``path`` (``chmod +x``) and pushes."""
    import pygit2
    from mq_forge import BRANCH, HUMAN

    repo = forge.refresh()
    parent = repo[forge.head()]
    index = pygit2.Index()
    index.read_tree(parent.tree)
    index.add(pygit2.IndexEntry(path, index[path].id, mode))
    oid = repo.create_commit(None, HUMAN, HUMAN, "chmod", index.write_tree(repo), [parent.id])
    repo.references[f"refs/heads/{BRANCH}"].set_target(oid)
    return str(oid)


@pytest.mark.parametrize("index_line", [True, False], ids=["index-line", "bare-hunks"])
def test_a_newer_chmod_on_the_branch_is_kept(forge, mq, git_policy, store_factory, index_line):
    """The change was computed on mode 100644 (its ``index a..b 100644`` line says so, and
    says nothing more); a person made the file executable since. The commit keeps 100755."""
    from bot.models import FileDiff

    path = "src/mod3.py"
    cr = forge.change({path: edited(3)}, title="fix mod3")
    file = cr.files[0]
    if index_line:
        header = f"diff --git a/{path} b/{path}\nindex {file.pre_image_blob[:7]}..1234567 100644\n"
        cr = cr.model_copy(
            update={
                "files": [FileDiff(path=path, diff=header + file.diff, pre_image_blob=file.pre_image_blob)]
            }
        )
    mq.submit(cr, forge.base_tree(), git_policy, {})
    chmod_on_branch(forge, path, 0o100755)
    outcome = process_once(mq, store_factory("w"), owner_id="w")
    assert outcome.report and outcome.report.change_ids == [cr.id]
    tree = forge.refresh()[forge.head()].tree
    assert tree[path].filemode == 0o100755
    assert forge.read(path) == edited(3)


def test_an_explicit_mode_change_in_the_diff_lands(forge, mq, git_policy, store_factory):
    from bot.models import FileDiff

    path = "src/mod4.py"
    cr = forge.change({path: edited(4)}, title="make mod4 executable")
    file = cr.files[0]
    header = f"diff --git a/{path} b/{path}\nold mode 100644\nnew mode 100755\n"
    cr = cr.model_copy(
        update={"files": [FileDiff(path=path, diff=header + file.diff, pre_image_blob=file.pre_image_blob)]}
    )
    mq.submit(cr, forge.base_tree(), git_policy, {})
    outcome = process_once(mq, store_factory("w"), owner_id="w")
    assert outcome.report and outcome.report.change_ids == [cr.id]
    assert forge.refresh()[forge.head()].tree[path].filemode == 0o100755
    assert forge.read(path) == edited(4)


def test_branch_named_like_the_directory_of_an_earlier_branch_lands(forge, mq, git_policy, store_factory):
    """The worker handled branch ``fix`` (since deleted); a change for ``fix/typo`` must not
    fail forever because the worker's private ref for ``fix`` is in the way."""
    import pygit2

    main = forge.head()
    forge.refresh().references.create("refs/heads/fix", pygit2.Oid(hex=main))
    first = forge.change({"src/mod1.py": edited(1)}, title="on fix")
    first = first.model_copy(update={"branch": "fix", "id": "cr-on-fix"})
    mq.submit(first, forge.base_tree(), git_policy, {})
    store = store_factory("w")
    assert process_once(mq, store, owner_id="w").report.change_ids == ["cr-on-fix"]
    repo = forge.refresh()
    repo.references.delete("refs/heads/fix")
    repo.references.create("refs/heads/fix/typo", pygit2.Oid(hex=main))
    second = forge.change({"src/mod2.py": edited(2)}, title="on fix/typo", sha=main)
    second = second.model_copy(update={"branch": "fix/typo", "id": "cr-on-fix-typo"})
    mq.submit(second, forge.base_tree(main), git_policy, {})
    outcome = process_once(mq, store, owner_id="w")
    assert outcome.report is not None and outcome.report.change_ids == ["cr-on-fix-typo"], outcome
    assert forge.read("src/mod2.py", str(forge.refresh().references["refs/heads/fix/typo"].target)) == edited(
        2
    )


def force_push(forge, onto: str, changes: dict[str, bytes], message: str = "rewrite") -> str:
    """The author rewrites the branch: it now points at a new commit on ``onto``."""
    import pygit2
    from mq_forge import BRANCH, HUMAN

    repo = forge.refresh()
    parent = repo[onto]
    index = pygit2.Index()
    index.read_tree(parent.tree)
    for path, data in changes.items():
        index.add(pygit2.IndexEntry(path, repo.create_blob(data), 0o100644))
    oid = repo.create_commit(None, HUMAN, HUMAN, message, index.write_tree(repo), [parent.id])
    repo.references[f"refs/heads/{BRANCH}"].set_target(oid)
    return str(oid)


@pytest.mark.parametrize("worker", ["w1", "fresh"], ids=["mirror-holds-old-head", "fresh-mirror"])
def test_change_on_a_force_pushed_away_head_is_dead_lettered_by_every_worker(
    forge, mq, git_policy, store_factory, worker
):
    """Worker w1 lands fix A (so its repository holds that commit, H1); fix B is computed on
    H1; the author force-pushes the branch back past H1. Whichever worker takes B, it is
    dead-lettered as computed on a commit the branch no longer has, with the force-push
    reply: w1 must not 3-way apply it just because its own repository still holds H1."""
    from bot.changes.replies import dead_letter_reply

    start = forge.head()
    a = forge.change({"src/mod1.py": edited(1)}, title="fix A")
    mq.submit(a, forge.base_tree(), git_policy, {})
    w1 = store_factory("w1")
    h1 = process_once(mq, w1, owner_id="w1").report.commit_sha
    b = forge.change({"src/mod2.py": edited(2)}, title="fix B", sha=h1)
    mq.submit(b, forge.base_tree(h1), git_policy, {})
    rewritten = force_push(forge, start, {"README.md": b"# rewritten\n"})
    store = w1 if worker == "w1" else store_factory("fresh")
    with store.landing("acme/widgets", "main") as repo:
        assert (h1 in repo) == (worker == "w1")
    outcome = process_once(mq, store, owner_id=worker)
    assert outcome.report is None and forge.head() == rewritten, outcome
    [letter] = outcome.dead
    assert letter.reason == "base_missing" and letter.rewritten is True
    assert letter.branch_head == rewritten
    assert mq.get(b.id).fields["dead_reason"] == "base_missing"
    reply = dead_letter_reply(letter)
    assert f"`main` was force-pushed since the fix was computed: it moved from `{h1[:7]}`" in reply
    assert "**Apply fixes** on the new head's `shunter/review` check run" in reply


@pytest.mark.parametrize(
    ("field", "stored", "says"),
    [
        (
            "cr",
            '{"id": "cr-old", "title": "from an older Shunter"}',
            "change request does not read as one (repo: Field required",
        ),
        ("cr", "not json at all", "change request does not read as one"),
        ("policy", '{"push_method": "carrier-pigeon"}', "patches policy does not read as one (push_method:"),
        # the claim script reads the paths itself: an error there failed every claim of the
        # queue, so nothing behind the entry landed any more
        ("paths", "not json at all", "the paths it changes is not a JSON list"),
        ("paths", '"src/mod1.py"', "the paths it changes is not a JSON list"),
    ],
    ids=["schema-changed", "garbage", "bad-policy", "garbage-paths", "paths-not-a-list"],
)
def test_an_unreadable_entry_is_set_aside_and_the_rest_of_its_batch_lands(
    forge, mq, git_policy, store_factory, caplog, field, stored, says
):
    """One entry of a batch no longer reads (its JSON in Redis is garbage, or was written to
    an older schema): it alone is dead-lettered as ``unreadable``, with a log line naming
    it, and the others land in the same round, not dead-lettered as ``attempts_exhausted``
    after the batch's lease expired again and again (nor stuck behind a claim that fails)."""
    crs = [forge.change({f"src/mod{i}.py": edited(i)}, title=f"fix {i}") for i in range(3)]
    for cr in crs:
        mq.submit(cr, forge.base_tree(), git_policy, {})
    bad = crs[1]
    mq.redis.hset(mq.keys.entry(bad.id), field, stored)
    with caplog.at_level("WARNING", logger="shunter.merge_queue"):
        outcome = process_once(mq, store_factory("w"), owner_id="w")
    good = [crs[0].id, crs[2].id]
    assert outcome is not None and outcome.report is not None, outcome
    assert outcome.report.change_ids == good and outcome.claimed == good
    assert forge.trailer_counts() == {cr_id: 1 for cr_id in good}
    assert list(outcome.unreadable) == [bad.id] and says in outcome.unreadable[bad.id]
    entry = mq.get(bad.id)
    assert entry.state == "dead" and entry.fields["dead_reason"] == "unreadable"
    assert says in entry.fields["dead_detail"] and "ask for the change again" in entry.fields["dead_detail"]
    assert [r.getMessage() for r in caplog.records if bad.id in r.getMessage()], caplog.text
    assert all(mq.get(cr_id).state == "landed" for cr_id in good)
    assert process_once(mq, store_factory("w"), owner_id="w") is None


def test_a_batch_of_only_unreadable_entries_does_not_hold_up_the_next(forge, mq, git_policy, store_factory):
    """The unreadable entry touches the same file as the next one, so it is a batch of its
    own: once it is set aside, the same claim goes on to the next batch."""
    bad = forge.change({"src/mod1.py": edited(1)}, title="bad")
    good = forge.change({"src/mod1.py": edited(1, "good")}, title="good")
    mq.submit(bad, forge.base_tree(), git_policy, {})
    mq.submit(good, forge.base_tree(), git_policy, {})
    mq.redis.hset(mq.keys.entry(bad.id), "cr", "garbage")
    outcome = process_once(mq, store_factory("w"), owner_id="w")
    assert outcome is not None and outcome.report.change_ids == [good.id], outcome
    assert list(outcome.unreadable) == [bad.id]
    assert mq.get(bad.id).fields["dead_reason"] == "unreadable"
    assert forge.read("src/mod1.py") == edited(1, "good")


def test_unreadable_entries_are_handed_to_the_hooks_even_when_nothing_else_is_queued(
    forge, mq, git_policy, store_factory
):
    """The hooks tell each dropped entry's pull request. A queue that held only unreadable
    entries used to give no outcome at all (the claim found nothing to land), so they were
    dead-lettered without anyone being told; now the outcome and the hooks name them."""
    bad = forge.change({"src/mod1.py": edited(1)}, title="bad")
    worse = forge.change({"src/mod2.py": edited(2)}, title="worse")
    for cr in (bad, worse):
        mq.submit(cr, forge.base_tree(), git_policy, {})
    mq.redis.hset(mq.keys.entry(bad.id), "cr", "garbage")
    mq.redis.hset(mq.keys.entry(worse.id), "paths", "garbage")
    hooks = Recorder()
    outcome = process_once(mq, store_factory("w"), owner_id="w", hooks=hooks)
    assert outcome is not None and outcome.report is None and outcome.claimed == []
    assert sorted(outcome.unreadable) == sorted(hooks.set_aside_ids) == sorted([bad.id, worse.id])
    queue, detail = hooks.set_aside_ids[bad.id]
    assert queue == f"{bad.repo}:{bad.branch}" and "change request does not read" in detail
    assert all(mq.get(cr.id).fields["dead_reason"] == "unreadable" for cr in (bad, worse))
    assert not hooks.dead and process_once(mq, store_factory("w"), owner_id="w") is None


def test_changes_queued_under_different_policies_each_land_under_their_own(
    forge, mq, git_policy, store_factory
):
    """The default branch's config changed between two '/shunter apply's (a new commit
    message template, Verified commits through the API): the batch took the first entry's
    policy for both, so the later change landed as 'shunter: apply 2 changes' by git push,
    which its policy no longer allows."""
    from bot.git.push import GitCliPusher

    new = git_policy.model_copy(update={"commit_message": "chore({stage}): {title}", "push_method": "api"})
    a = forge.change({"src/mod1.py": edited(1)}, title="fix a")
    b = forge.change({"src/mod2.py": edited(2)}, title="fix b")
    mq.submit(a, forge.base_tree(), git_policy, {})
    mq.submit(b, forge.base_tree(), new, {})
    methods = []

    def pushers(repo, policy, remote):
        methods.append(policy.push_method)
        return GitCliPusher(remote)

    store = store_factory("w")
    outcomes = [process_once(mq, store, owner_id="w", pushers=pushers)]
    later = mq.get(b.id)  # given back untouched, first in line
    assert later.state == "waiting" and later.fields["attempts"] == "0"
    outcomes.append(process_once(mq, store, owner_id="w", pushers=pushers))
    assert [o and o.claimed for o in outcomes] == [[a.id], [b.id]]
    assert [o.report.change_ids for o in outcomes] == [[a.id], [b.id]]
    assert [c.message.splitlines()[0] for c in forge.history()[:2]] == ["chore(review): fix b", "shunter: fix a"]
    assert methods == ["git", "api"]
    # entries queued under one policy still land together
    c = forge.change({"src/mod3.py": edited(3)}, title="fix c")
    d = forge.change({"src/mod4.py": edited(4)}, title="fix d")
    for cr in (c, d):
        mq.submit(cr, forge.base_tree(), new, {})
    assert process_once(mq, store, owner_id="w", pushers=pushers).claimed == [c.id, d.id]


def test_a_change_withdrawn_right_before_the_push_is_dropped_and_the_rest_of_its_batch_lands(
    forge, mq, git_policy, store_factory
):
    """A change whose pull request closed while the worker held it: asked right before the
    push, the hooks withdraw it; it is deleted unpushed and the batch lands without it."""
    keep = forge.change({"src/mod1.py": edited(1)}, title="keep")
    gone = forge.change({"src/mod2.py": edited(2)}, title="gone")
    for cr in (keep, gone):
        mq.submit(cr, forge.base_tree(), git_policy, {})
    before = forge.head()

    class Closer(Recorder):
        def __init__(self) -> None:
            super().__init__()
            self.asked: list[list[str]] = []
            self.told: list[tuple[str, str]] = []

        def withdrawn(self, changes):  # type: ignore[override]
            self.asked.append([c.id for c in changes])
            return {gone.id: "merged"} if gone.id in self.asked[-1] else {}

        def dropped(self, change, why):  # type: ignore[override]
            self.told.append((change.id, why))

    hooks = Closer()
    outcome = process_once(mq, store_factory("w"), owner_id="w", hooks=hooks)
    assert [sorted(ids) for ids in hooks.asked] == [sorted([keep.id, gone.id]), [keep.id]]
    assert outcome.dropped == {gone.id: "merged"} and hooks.told == [(gone.id, "merged")]
    assert outcome.report.change_ids == [keep.id] and outcome.report.pushes == 1
    assert mq.get(gone.id) is None and mq.get(keep.id).state == "landed"
    message = forge.refresh()[forge.head()].message
    assert f"Shunter-Change: {keep.id}" in message and gone.id not in message
    assert [str(c.parents[0].id) for c in forge.history()[:1]] == [before]
    assert forge.read("src/mod2.py") != edited(2)
