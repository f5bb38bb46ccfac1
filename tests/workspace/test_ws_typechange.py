"""A path that turns from a file into a symlink (or back) in a pull request.

libgit2 splits such a "typechange" into a deletion and an addition of the same path, and
rename detection may pair either half with another file. The stages get each path once: the
file's side as content (``deleted`` or ``added`` with every line added), a link never as text.
"""

from __future__ import annotations

import pygit2
import pytest

from bot.git.changes import pull_request_files
from bot.stages.context import ChangedFile, ChangedPath

BODY = b"".join(f"def f{i}():\n    return {i}\n\n".encode() for i in range(30))
OTHER = b"".join(f"x{i} = {i}\n".encode() for i in range(40))


@pytest.fixture
def diff(remote):
    """``diff(base_files, head_files)`` -> (``paths()``, ``load()``) of the PR's changes."""

    def run(base: dict[str, bytes], head: dict[str, bytes]) -> tuple[list[ChangedPath], list[ChangedFile]]:
        base_sha = remote.commit("refs/heads/main", base, parents=[])
        head_sha = remote.commit("refs/heads/pr", head, parents=[base_sha])
        repo = remote.repo
        _, files = pull_request_files(repo, repo[base_sha], repo[head_sha])
        paths, loaded = files.paths(), files.load()
        assert len({p.path for p in paths}) == len(paths) == len(loaded), "a path listed twice"
        assert [ChangedPath(f.path, f.status, f.executable, f.symlink) for f in loaded] == paths
        return paths, loaded

    return run


def _blob(data: bytes) -> str:
    return str(pygit2.hash(data))


def test_file_becoming_a_symlink_is_the_file_deleted(diff, symlink) -> None:
    paths, files = diff({"a.py": BODY, "t.py": OTHER}, {"a.py": symlink(b"t.py"), "t.py": OTHER})
    assert paths == [ChangedPath("a.py", "deleted")]
    (gone,) = files
    assert gone.base_blob == _blob(BODY) and gone.head_blob is None
    assert gone.added_lines == frozenset() and not gone.symlink


def test_symlink_becoming_a_file_is_the_file_added_with_every_line(diff, symlink) -> None:
    text = b"import os\nimport sys\n"
    paths, files = diff({"a.py": symlink(b"t.py"), "t.py": OTHER}, {"a.py": text, "t.py": OTHER})
    assert paths == [ChangedPath("a.py", "added")]
    (added,) = files
    assert added.added_lines == {1, 2} and added.head_blob == _blob(text) and added.base_blob is None
    assert added.patch == "@@ -0,0 +1,2 @@\n+import os\n+import sys\n"


def test_retargeted_symlink_has_no_lines_to_lint(diff, symlink) -> None:
    paths, files = diff(
        {"a.py": symlink(b"t.py"), "t.py": OTHER, "u.py": OTHER},
        {"a.py": symlink(b"u.py"), "t.py": OTHER, "u.py": OTHER},
    )
    assert paths == [ChangedPath("a.py", "modified", symlink=True)]
    (link,) = files
    assert link.added_lines == link.context_lines == frozenset() and link.patch == ""
    assert link.head_blob == _blob(b"u.py")  # the link's own object, for whoever needs it


def test_typechange_beside_a_genuine_rename(diff, symlink) -> None:
    paths, files = diff(
        {"a.py": BODY, "old/m.py": OTHER},
        {"a.py": symlink(b"new/m.py"), "new/m.py": OTHER + b"z = 1\n"},
    )
    assert paths == [ChangedPath("a.py", "deleted"), ChangedPath("new/m.py", "renamed")]
    moved = files[1]
    assert moved.old_path == "old/m.py" and moved.added_lines == {41}


def test_file_moved_away_and_replaced_by_a_symlink(diff, symlink) -> None:
    """The content moved (a real rename: only the appended lines are new) and a link took
    the old path: the link is listed, as a link, and the rename keeps its line map."""
    paths, files = diff(
        {"a.py": BODY},
        {"a.py": symlink(b"b.py"), "b.py": BODY + b"def g():\n    return 0\n"},
    )
    assert paths == [ChangedPath("a.py", "added", symlink=True), ChangedPath("b.py", "renamed")]
    link, moved = files
    assert link.added_lines == frozenset() and link.patch == ""
    assert moved.old_path == "a.py" and moved.added_lines == {91, 92}


def test_rename_onto_a_former_symlink_lists_the_path_once(diff, symlink) -> None:
    """libgit2 pairs a deleted file with the file half of the typechange (a rename) and
    leaves the link's half as a deletion of the same path."""
    paths, files = diff({"a.py": symlink(b"x"), "b.py": BODY}, {"a.py": BODY + b"y = 1\n"})
    assert paths == [ChangedPath("a.py", "renamed")]
    assert files[0].old_path == "b.py" and files[0].added_lines == {91}


def test_symlinks_swapping_with_files_keep_one_entry_per_path(diff, symlink) -> None:
    paths, _ = diff({"a.py": BODY, "b.py": symlink(b"a.py")}, {"a.py": symlink(b"b.py"), "b.py": BODY})
    assert paths == [ChangedPath("a.py", "added", symlink=True), ChangedPath("b.py", "renamed")]
