from __future__ import annotations

from pathlib import Path

import pygit2
import pytest

from bot.errors import WorkspaceError
from bot.git import context_from_local_repo, open_workspace
from bot.stages.context import ChangedFile, ChangedPath, MemoryTree, PendingFiles, StageContext

BEFORE = "".join(f"line {i}\n" for i in range(1, 21)).encode()
AFTER = BEFORE.replace(b"line 10\n", b"line ten\nline 10.5\n")
MOVED = b"".join(f"def f{i}():\n    return {i}\n\n".encode() for i in range(30))


@pytest.fixture
def ctx(remote, data_dir: Path):
    base = remote.commit(
        "refs/heads/main",
        {
            "text.txt": BEFORE,
            "gone.py": b"import os\n",
            "old/name.py": MOVED,
            "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00binary",
        },
    )
    head = remote.commit(
        "refs/pull/9/head",
        {
            "text.txt": AFTER,
            "new/name.py": MOVED + b"def extra():\n    return 0\n",
            "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x01binary!",
            "src/added.py": b"a = 1\nb = 2\n",
        },
        [base],
    )
    ws = open_workspace(data_dir, "octo/app", remote.url)
    ws.fetch_pull_request(9, base_branch="main")
    return ws.context_for("main", head)


def test_statuses_and_paths(ctx) -> None:
    got = {f.path: (f.status, f.old_path) for f in ctx.files}
    assert got == {
        "gone.py": ("deleted", None),
        "logo.png": ("modified", None),
        "new/name.py": ("renamed", "old/name.py"),
        "src/added.py": ("added", None),
        "text.txt": ("modified", None),
    }


def test_modified_file_line_maps(ctx) -> None:
    text = ctx.changed("text.txt")
    assert text.added_lines == {10, 11}
    assert text.context_lines == {7, 8, 9, 12, 13, 14}
    assert text.diff_lines == {7, 8, 9, 10, 11, 12, 13, 14}
    assert text.patch.startswith("@@ -7,7 +7,8 @@")
    assert "-line 10\n+line ten\n+line 10.5\n" in text.patch
    assert text.head_blob and text.base_blob and text.head_blob != text.base_blob


def test_added_renamed_deleted_and_binary(ctx) -> None:
    added = ctx.changed("src/added.py")
    assert added.added_lines == {1, 2} and added.base_blob is None
    renamed = ctx.changed("new/name.py")
    assert renamed.added_lines == {91, 92}  # only the appended function, not the whole file
    assert renamed.context_lines == {88, 89, 90}
    gone = ctx.changed("gone.py")
    assert gone.added_lines == frozenset() and gone.head_blob is None and gone.base_blob
    binary = ctx.changed("logo.png")
    assert binary.is_binary and binary.patch == "" and binary.added_lines == frozenset()


def test_trees_read_blobs_without_checkout(ctx, tmp_path: Path) -> None:
    assert ctx.head.read("gone.py") is None
    assert ctx.base.read("gone.py") == b"import os\n"
    assert ctx.head.read("src") is None  # a directory is not a file
    assert ctx.head.read("../etc/passwd") is None
    root = ctx.materialise(["src/added.py", "gone.py"])
    assert (root / "src/added.py").read_bytes() == b"a = 1\nb = 2\n"
    assert not (root / "gone.py").exists()


def test_context_from_local_repo(tmp_path: Path) -> None:
    _repo, first, second = _local_repo(tmp_path)
    ctx = context_from_local_repo(tmp_path / "work", first)
    assert (ctx.base_sha, ctx.head_sha) == (first, second)
    assert ctx.repo == "local/work"
    assert ctx.changed("m.py").added_lines == {2}
    sub = tmp_path / "work" / "sub"
    sub.mkdir()
    assert context_from_local_repo(sub, "HEAD~1", "main").head_sha == second
    with pytest.raises(WorkspaceError, match="no commit"):
        context_from_local_repo(tmp_path / "work", "nope")
    with pytest.raises(WorkspaceError, match="not inside a git repository"):
        context_from_local_repo(tmp_path / "elsewhere", "HEAD")


def _local_repo(tmp_path: Path):
    repo = pygit2.init_repository(str(tmp_path / "work"))
    sig = pygit2.Signature("t", "t@example.com", 1_700_000_000, 0)
    blob = repo.create_blob(b"x = 1\n")
    builder = repo.TreeBuilder()
    builder.insert("m.py", blob, pygit2.enums.FileMode.BLOB)
    first = repo.create_commit("refs/heads/main", sig, sig, "1", builder.write(), [])
    builder.insert("m.py", repo.create_blob(b"x = 1\ny = 2\n"), pygit2.enums.FileMode.BLOB)
    second = repo.create_commit("refs/heads/main", sig, sig, "2", builder.write(), [first])
    repo.set_head("refs/heads/main")
    return repo, str(first), str(second)


def test_unrelated_histories_compare_the_trees(remote, data_dir: Path) -> None:
    base = remote.commit("refs/heads/main", {"a.py": b"x = 1\n"}, parents=[])
    head = remote.commit("refs/pull/5/head", {"a.py": b"x = 1\ny = 2\n"}, parents=[])
    ws = open_workspace(data_dir, "octo/app", remote.url)
    ws.fetch_pull_request(5, base_branch="main")
    ctx = ws.context_for("main", head)
    assert ctx.base_sha == base
    assert ctx.changed("a.py").added_lines == {2}


def test_submodules_and_symlinks_are_not_files(remote, data_dir: Path) -> None:
    repo = remote.repo
    base = remote.commit("refs/heads/main", {"a.py": b"x = 1\n"})
    builder = repo.TreeBuilder(repo.revparse_single(base).peel(pygit2.Commit).tree)
    builder.insert("vendor", pygit2.Oid(hex=base), pygit2.enums.FileMode.COMMIT)
    builder.insert("link.py", repo.create_blob(b"/etc/passwd"), pygit2.enums.FileMode.LINK)
    sig = pygit2.Signature("t", "t@example.com", 1_700_000_000, 0)
    head = repo.create_commit("refs/pull/6/head", sig, sig, "sub", builder.write(), [pygit2.Oid(hex=base)])
    ws = open_workspace(data_dir, "octo/app", remote.url)
    ws.fetch_pull_request(6, base_branch="main")
    ctx = ws.context_for("main", str(head))
    assert [f.path for f in ctx.files] == ["link.py"]  # the submodule pointer is not a file
    assert ctx.head.read("link.py") is None  # a symlink is never read through
    assert ctx.head.read("vendor") is None
    assert sorted(ctx.head.paths()) == ["a.py"]


def test_paths_are_known_before_the_line_maps(remote, data_dir: Path) -> None:
    """The tree comparison names the files at once; the line maps wait for ``ctx.files``."""
    base = remote.commit("refs/heads/main", {"a.py": b"x = 1\n", "old.py": MOVED, "gone.md": b"# x\n"})
    head = remote.commit(
        "refs/pull/7/head", {"a.py": b"x = 2\n", "new.py": MOVED + b"y = 0\n", "b.bin": b"\x00\x01"}, [base]
    )
    ws = open_workspace(data_dir, "octo/app", remote.url)
    ws.fetch_pull_request(7, base_branch="main")
    ctx = ws.context_for("main", head)
    assert isinstance(ctx.__dict__["_files"], PendingFiles)  # nothing diffed line by line yet
    paths = ctx.changed_paths()
    assert paths == [
        ChangedPath("a.py", "modified"),
        ChangedPath("b.bin", "added"),
        ChangedPath("gone.md", "deleted"),
        ChangedPath("new.py", "renamed"),
    ]
    assert isinstance(ctx.__dict__["_files"], PendingFiles)
    files = ctx.files
    assert ctx.files is files  # loaded once, then a plain list
    assert [ChangedPath(f.path, f.status) for f in files] == paths == ctx.changed_paths()
    assert ctx.changed("new.py").added_lines == {91}
    assert ctx.changed("b.bin").is_binary


def test_a_context_takes_a_plain_list_too() -> None:
    files = [ChangedFile("a.py", "added", added_lines=frozenset({1}))]
    ctx = StageContext("octo/app", "a" * 40, "b" * 40, files, MemoryTree({}), MemoryTree({}))
    assert ctx.files is files
    assert ctx.changed_paths() == [ChangedPath("a.py", "added")]
    ctx.files = []
    assert ctx.changed_paths() == [] and ctx.changed("a.py") is None
