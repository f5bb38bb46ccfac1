"""The gate before the queue: hostile and oversized change requests are refused with a
reason code, and nothing reaches Redis or the branch."""

from __future__ import annotations

import pytest
from mq_forge import edited

from bot.changes import Approval, ChangeRequest, MemoryBaseTree, git_blob_id, validate_change
from bot.errors import ChangeRejected
from bot.models import FileDiff
from bot.policies.schema import Patches

SHA = "a" * 40


def cr_with(*files: FileDiff, **kw) -> ChangeRequest:
    fields = dict(
        id="cr-x",
        repo="acme/widgets",
        branch="main",
        head_sha=SHA,
        title="t",
        files=list(files),
        requester="alice",
    )
    fields.update(kw)
    return ChangeRequest(**fields)


BASE = MemoryBaseTree(
    files={
        "src/a.py": b"one\ntwo\nthree\n",
        ".github/workflows/ci.yml": b"on: push\n",
        "secrets/keys.txt": b"k\n",
    },
    symlinks={"linkdir": "src", "src/alias.py": "a.py"},
)
MODIFY_A = "--- a/src/a.py\n+++ b/src/a.py\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n"


def modify(path: str, diff: str | None = None, blob: str | None = "auto") -> FileDiff:
    diff = diff or MODIFY_A.replace("src/a.py", path)
    if blob == "auto":
        data = BASE.files.get(path, b"one\ntwo\nthree\n")
        blob = git_blob_id(data)
    return FileDiff(path=path, diff=diff, pre_image_blob=blob)


def rejected(cr: ChangeRequest, policy: Patches | None = None, perms=None) -> str:
    with pytest.raises(ChangeRejected) as info:
        validate_change(cr, BASE, policy or Patches(), perms or {"contents": "write"})
    assert info.value.message
    return info.value.reason


def test_a_good_change_passes():
    report = validate_change(cr_with(modify("src/a.py")), BASE, Patches(), {})
    assert report.files == 1 and report.lines == 2


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../etc/passwd", "path_traversal"),
        ("src/../../x", "path_traversal"),
        ("/etc/passwd", "path_absolute"),
        ("C:/x", "path_absolute"),
        (".git/config", "path_git_dir"),
        ("sub/.GIT/hooks/pre-commit", "path_git_dir"),
        (".git./config", "path_git_dir"),
        ("GIT~1/config", "path_git_dir"),
        ("src\\a.py", "path_backslash"),
        ("src/a\0.py", "path_control_char"),
        ("src//a.py", "path_not_normal"),
        ("./src/a.py", "path_not_normal"),
        ("", "path_empty"),
    ],
)
def test_hostile_paths(path, reason):
    assert rejected(cr_with(FileDiff(path=path, diff=MODIFY_A, pre_image_blob=None))) == reason


def test_symlink_tricks():
    new_under_link = FileDiff(
        path="linkdir/evil.py", diff="--- /dev/null\n+++ b/linkdir/evil.py\n@@ -0,0 +1 @@\n+x\n"
    )
    assert rejected(cr_with(new_under_link)) == "symlink_parent"
    through_link = modify("src/alias.py", blob=git_blob_id(b"a.py"))
    assert rejected(cr_with(through_link)) == "symlink_target"
    creates_link = FileDiff(
        path="src/l",
        diff="diff --git a/src/l b/src/l\nnew file mode 120000\n--- /dev/null\n+++ b/src/l\n"
        "@@ -0,0 +1 @@\n+/etc/passwd\n\\ No newline at end of file\n",
    )
    assert rejected(cr_with(creates_link)) == "symlink_created"
    mode_to_link = FileDiff(
        path="src/a.py",
        pre_image_blob=git_blob_id(b"one\ntwo\nthree\n"),
        diff="diff --git a/src/a.py b/src/a.py\nold mode 100644\nnew mode 120000\n",
    )
    assert rejected(cr_with(mode_to_link)) == "symlink_created"


def test_file_under_a_file_is_refused():
    under = FileDiff(path="src/a.py/x", diff="--- /dev/null\n+++ b/src/a.py/x\n@@ -0,0 +1 @@\n+x\n")
    assert rejected(cr_with(under)) == "not_a_directory"


def test_binary_and_malformed_diffs():
    binary = FileDiff(
        path="img.png",
        diff="diff --git a/img.png b/img.png\nnew file mode 100644\n"
        "Binary files /dev/null and b/img.png differ\n",
    )
    assert rejected(cr_with(binary)) == "binary_patch"
    git_binary = FileDiff(path="x.bin", diff="diff --git a/x.bin b/x.bin\nGIT binary patch\n")
    assert rejected(cr_with(git_binary)) == "binary_patch"
    garbage = FileDiff(path="src/a.py", diff="rm -rf /\n", pre_image_blob=git_blob_id(b"x"))
    assert rejected(cr_with(garbage)) == "malformed_diff"
    short = MODIFY_A.replace("@@ -1,3 +1,3 @@", "@@ -1,4 +1,4 @@")
    assert rejected(cr_with(modify("src/a.py", short))) == "malformed_diff"


def test_header_naming_another_file_is_refused():
    sneaky = MODIFY_A.replace("+++ b/src/a.py", "+++ b/.git/config")
    assert rejected(cr_with(modify("src/a.py", sneaky))) == "path_mismatch"


def test_pre_image_must_match_the_base():
    assert rejected(cr_with(modify("src/a.py", blob="0" * 40))) == "pre_image_mismatch"
    assert rejected(cr_with(modify("src/a.py", blob=None))) == "pre_image_mismatch"
    assert rejected(cr_with(modify("src/missing.py"))) == "pre_image_mismatch"
    wrong_context = MODIFY_A.replace(" one\n", " uno\n")
    assert rejected(cr_with(modify("src/a.py", wrong_context))) == "hunk_mismatch"


def test_a_deletion_must_remove_every_line():
    """The file goes as a whole, so a deletion diff whose hunks remove only some lines (or
    none) would delete lines nobody saw and that ``patches.max_lines`` never counted."""
    head = "diff --git a/src/a.py b/src/a.py\ndeleted file mode 100644\n"
    partial = head + "--- a/src/a.py\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-one\n"
    assert rejected(cr_with(modify("src/a.py", partial)), Patches(max_lines=5)) == "incomplete_deletion"
    assert rejected(cr_with(modify("src/a.py", head))) == "incomplete_deletion"
    whole = head + "--- a/src/a.py\n+++ /dev/null\n@@ -1,3 +0,0 @@\n-one\n-two\n-three\n"
    report = validate_change(cr_with(modify("src/a.py", whole)), BASE, Patches(max_lines=5), {})
    assert report.lines == 3
    empty = MemoryBaseTree(files={"empty.txt": b""})
    hunkless = FileDiff(
        path="empty.txt",
        diff="diff --git a/empty.txt b/empty.txt\ndeleted file mode 100644\n",
        pre_image_blob=git_blob_id(b""),
    )
    assert validate_change(cr_with(hunkless), empty, Patches(), {}).lines == 0


def test_size_limits_from_policy():
    files = [
        FileDiff(path=f"n{i}.py", diff=f"--- /dev/null\n+++ b/n{i}.py\n@@ -0,0 +1 @@\n+x\n") for i in range(3)
    ]
    assert rejected(cr_with(*files), Patches(max_files=2)) == "too_many_files"
    big = "--- /dev/null\n+++ b/big.py\n@@ -0,0 +1,600 @@\n" + "+x\n" * 600
    assert rejected(cr_with(FileDiff(path="big.py", diff=big))) == "too_many_lines"
    assert rejected(cr_with(modify("src/a.py")), Patches(allowed_paths=["docs/**"])) == ("path_not_allowed")
    # the policy lets a maintainer's approval waive these limits, and only these
    writer = Approval(approver="bob", permission="write")
    maintainer = Approval(approver="carol", permission="maintain")
    assert rejected(cr_with(*files, approval=writer), Patches(max_files=2)) == "too_many_files"
    assert validate_change(cr_with(*files, approval=maintainer), BASE, Patches(max_files=2), {}).files == 3
    assert validate_change(cr_with(FileDiff(path="big.py", diff=big), approval=maintainer), BASE, Patches(), {})
    outside = cr_with(modify("src/a.py"), approval=maintainer)
    assert validate_change(outside, BASE, Patches(allowed_paths=["docs/**"]), {}).files == 1
    hostile = FileDiff(path="../x.py", diff="--- /dev/null\n+++ b/../x.py\n@@ -0,0 +1 @@\n+x\n")
    assert rejected(cr_with(hostile, approval=maintainer)) == "path_traversal"


def test_workflows_need_the_app_permission_and_a_maintainer():
    wf = modify(
        ".github/workflows/ci.yml",
        "--- a/.github/workflows/ci.yml\n+++ b/.github/workflows/ci.yml\n"
        "@@ -1 +1 @@\n-on: push\n+on: [push, pull_request]\n",
    )
    assert rejected(cr_with(wf), perms={"contents": "write"}) == "workflows_permission"
    perms = {"contents": "write", "workflows": "write"}
    assert rejected(cr_with(wf), perms=perms) == "approval_required"
    writer = Approval(approver="bob", permission="write")
    assert rejected(cr_with(wf, approval=writer), perms=perms) == "approval_required"
    maintainer = Approval(approver="carol", permission="maintain")
    report = validate_change(cr_with(wf, approval=maintainer), BASE, Patches(), perms)
    assert report.protected_paths == (".github/workflows/ci.yml",)


def test_policy_protected_paths_need_approval():
    change = cr_with(
        modify(
            "secrets/keys.txt",
            "--- a/secrets/keys.txt\n+++ b/secrets/keys.txt\n@@ -1 +1 @@\n-k\n+K\n",
        )
    )
    policy = Patches(protected_paths=["secrets/**"])
    assert rejected(change, policy) == "approval_required"
    admin = change.model_copy(update={"approval": Approval(approver="root", permission="admin")})
    assert validate_change(admin, BASE, policy, {}).protected_paths == ("secrets/keys.txt",)


def test_bad_targets():
    assert rejected(cr_with(modify("src/a.py"), branch="-delete")) == "bad_branch"
    assert rejected(cr_with(modify("src/a.py"), branch="a..b")) == "bad_branch"
    assert rejected(cr_with(modify("src/a.py"), head_sha="HEAD")) == "bad_sha"
    assert rejected(cr_with(modify("src/a.py"), repo="../x")) == "bad_repo"
    assert rejected(cr_with()) == "empty_change"


@pytest.mark.parametrize(
    "make",
    [
        lambda f: FileDiff(
            path="../escape.py", diff="--- /dev/null\n+++ b/../escape.py\n@@ -0,0 +1 @@\n+x\n"
        ),
        lambda f: FileDiff(
            path=".git/config",
            diff="--- a/.git/config\n+++ b/.git/config\n@@ -1 +1 @@\n-a\n+b\n",
            pre_image_blob="0" * 40,
        ),
        lambda f: FileDiff(
            path="linkdir/x.py", diff="--- /dev/null\n+++ b/linkdir/x.py\n@@ -0,0 +1 @@\n+x\n"
        ),
        lambda f: FileDiff(
            path="big.py", diff="--- /dev/null\n+++ b/big.py\n@@ -0,0 +1,3000 @@\n" + "+x\n" * 3000
        ),
        lambda f: f.diff_for(".github/workflows/ci.yml", b"on: [push]\njobs: {}\n"),
    ],
    ids=["traversal", "git-config", "symlink-parent", "oversized", "workflow-unapproved"],
)
def test_hostile_requests_write_nothing(forge, mq, git_policy, redis_client, make):
    head = forge.head()
    file = make(forge)
    change = forge.change({"src/mod1.py": edited(1)})
    change = change.model_copy(update={"files": [file]})
    with pytest.raises(ChangeRejected):
        mq.submit(change, forge.base_tree(), git_policy, {"contents": "write", "workflows": "write"})
    assert [k for k in redis_client.keys("shunter:mq:*")] == []
    assert forge.head() == head
