from __future__ import annotations

import pytest

from bot.engines.heuristics import is_test_path, scan
from bot.models import Severity, fingerprint
from bot.stages.context import ChangedFile

RISKY = [".github/workflows/**", "**/migrations/**", "pyproject.toml"]


def _file(path: str, text: str, added: set[int] | None = None, status: str = "modified"):
    lines = text.splitlines()
    added = set(range(1, len(lines) + 1)) if added is None else added
    patch = "".join(f"+{lines[n - 1]}\n" for n in sorted(added))
    return ChangedFile(path, status, added_lines=frozenset(added), patch=patch)


def _scan(files_texts, large=800, risky=RISKY):
    files = [f for f, _t in files_texts]
    texts = {f.path: t for f, t in files_texts}
    return scan(files, texts, large_pr_lines=large, risky_paths=risky)


def _rules(report, path=None):
    return [(f.rule_id, f.start_line) for f in report.findings if path in (None, f.path)]


TEST_FILE = (
    _file("tests/test_app.py", "def test_x():\n    assert True\n"),
    "def test_x():\n    assert True\n",
)


def test_debugger_calls_only_on_added_lines() -> None:
    text = (
        "import pdb\nx = 1\nbreakpoint()\nimport ipdb; ipdb.set_trace()\n"
        "value = compute()  # pdb.set_trace() in a comment is fine\n"
        "    # breakpoint()\nfoo(pdb.set_trace())\n"
    )
    report = _scan([(_file("app.py", text, {3, 4, 5, 6, 7}), text), TEST_FILE])
    found = [(f.rule_id, f.start_line, f.severity, f.suggestion) for f in report.findings]
    assert found == [
        ("debugger", 3, Severity.ERROR, ""),
        ("debugger", 4, Severity.ERROR, ""),
        ("debugger", 7, Severity.ERROR, None),  # not a whole-line call: no deletion offered
    ]
    assert report.findings[0].fingerprint == fingerprint("debugger", "app.py", "breakpoint()")


def test_stray_print_in_library_code_but_not_in_scripts_or_tests() -> None:
    lib = "def f():\n    print('debug')\n    return 1\n"
    script = "print('hi')\nif __name__ == '__main__':\n    print('main')\n"
    report = _scan(
        [
            (_file("pkg/lib.py", lib), lib),
            (_file("pkg/tool.py", script), script),
            (_file("scripts/run.py", lib), lib),
            (_file("tests/test_lib.py", lib), lib),
        ]
    )
    assert [(f.rule_id, f.path, f.start_line) for f in report.findings if f.rule_id == "stray-print"] == [
        ("stray-print", "pkg/lib.py", 2)
    ]


def test_merge_markers_need_a_conflict_start() -> None:
    conflicted = "a = 1\n<<<<<<< HEAD\nb = 2\n=======\nb = 3\n>>>>>>> feature\n"
    rst = "Title\n=======\n\ntext\n"
    report = _scan([(_file("x.py", conflicted), conflicted), (_file("README.rst", rst), rst), TEST_FILE])
    assert [(f.rule_id, f.path, f.start_line, f.severity) for f in report.findings] == [
        ("merge-marker", "x.py", 2, Severity.ERROR),
        ("merge-marker", "x.py", 4, Severity.ERROR),
        ("merge-marker", "x.py", 6, Severity.ERROR),
    ]


def test_todo_added() -> None:
    text = "x = 1  # TODO: handle errors\ny = 2  # todo lowercase is prose\n# FIXME later\n"
    report = _scan([(_file("docs/notes.md", text), text)])
    assert [(f.rule_id, f.start_line, f.title) for f in report.findings] == [
        ("todo-added", 1, "TODO added"),
        ("todo-added", 3, "FIXME added"),
    ]


def test_xxx_in_documentation_is_a_placeholder_not_a_todo() -> None:
    """zod 3.22.4 -> 3.23.8's README: a sponsor table's placeholder logo and name were two
    "XXX added" notices; in code XXX still counts, and in the README TODO still does."""
    readme = (
        '        <img src="https://example.com/image.png" height="100px;" alt="XXX" />\n'
        "      <b>XXX</b>\n"
        "TODO: document `z.string().date()`\n"
    )
    code = "// XXX: keep in sync with ZodError.js\nconst a = 1;\n"
    report = _scan([(_file("README.md", readme), readme), (_file("src/types.ts", code), code)])
    assert [(f.path, f.start_line, f.title) for f in report.findings if f.rule_id == "todo-added"] == [
        ("README.md", 3, "TODO added"),
        ("src/types.ts", 1, "XXX added"),
    ]


def test_large_pr_threshold() -> None:
    big = "".join(f"x{i} = {i}\n" for i in range(60))
    small = "y = 1\n"
    files = [(_file("tests/test_big.py", big), big), (_file("tests/test_s.py", small), small)]
    assert _rules(_scan(files, large=61)) == []
    report = _scan(files, large=60)
    assert _rules(report) == [("large-pr", 0)]
    assert report.findings[0].on_pull_request  # about the whole PR, on no file's line
    assert "61 lines in 2 files" in report.findings[0].message


def test_risky_files() -> None:
    wf = "on: push\n"
    report = _scan(
        [
            (_file(".github/workflows/ci.yml", wf), wf),
            (_file("app/migrations/0002.sql", "alter table x;\n"), "alter table x;\n"),
            (ChangedFile("pyproject.toml", "deleted"), None),
            (_file("README.md", "hi\n"), "hi\n"),
        ]
    )
    assert sorted(_rules(report)) == [("risky-file", 1), ("risky-file", 1)]
    assert {f.path for f in report.findings} == {
        ".github/workflows/ci.yml",
        "app/migrations/0002.sql",
    }
    assert report.notes == ["Sensitive file deleted: `pyproject.toml`."]


def test_source_changed_without_tests() -> None:
    src = "def f():\n    return 2\n"
    alone = _scan(
        [
            (_file("pkg/core.py", src, {2}), src),
            (_file("docs/conf.py", src), src),
            (_file("setup.py", src), src),
        ]
    )
    assert _rules(alone) == [("untested-change", 0)] and alone.findings[0].on_pull_request
    assert "`pkg/core.py`" in alone.findings[0].message
    assert "docs/conf.py" not in alone.findings[0].message
    with_tests = _scan([(_file("pkg/core.py", src, {2}), src), TEST_FILE])
    assert _rules(with_tests) == []


def test_a_javascript_test_does_not_cover_a_python_change() -> None:
    """In a repository of Python and a JavaScript front end, a Jest ``login.test.ts`` or Go
    ``auth_test.go`` beside a changed Python function is no test of it."""
    src = "def f():\n    return 2\n"
    jest = "it('logs in', () => { expect(login()).toBe(true); });\n"
    for test in ("web/src/__tests__/login.test.ts", "web/src/login.spec.js", "svc/auth_test.go"):
        report = _scan([(_file("pkg/core.py", src, {2}), src), (_file(test, jest), jest)])
        assert _rules(report) == [("untested-change", 0)], test


def test_untested_fingerprint_is_stable_across_pushes() -> None:
    one = _scan([(_file("pkg/core.py", "a = 1\n"), "a = 1\n")]).findings[0]
    two = _scan([(_file("pkg/core.py", "b = 2\nc = 3\n"), "b = 2\nc = 3\n")]).findings[0]
    assert one.fingerprint == two.fingerprint


def test_untested_change_in_other_files_is_another_finding_and_large_pr_keeps_its_id() -> None:
    """A dismissal goes by fingerprint: source changed without tests in another file must
    not share one with the remark dismissed, nor may the order files come in or the large
    PR's counts change either remark's."""
    a, b = (_file("pkg/a.py", "a = 1\n"), "a = 1\n"), (_file("pkg/b.py", "b = 2\nc = 3\n"), "b = 2\nc = 3\n")

    def ids(*files):
        return {f.rule_id: f.fingerprint for f in _scan(list(files), large=0).findings}

    only_a, only_b, both, both_again = ids(a), ids(b), ids(a, b), ids(b, a)
    assert len({only_a["untested-change"], only_b["untested-change"], both["untested-change"]}) == 3
    assert both == both_again
    assert only_a["large-pr"] == only_b["large-pr"] == both["large-pr"]


def test_test_path_detection() -> None:
    assert is_test_path("tests/unit/helpers.py")
    assert is_test_path("pkg/test_core.py")
    assert is_test_path("pkg/core_test.py")
    assert is_test_path("conftest.py")
    assert not is_test_path("pkg/testing_utils.py")
    assert not is_test_path("pkg/contest.py")


def test_added_lines_from_the_patch_alone() -> None:
    from bot.engines.heuristics import added_from_patch

    patch = (
        "@@ -1,3 +1,4 @@\n a\n-b\n+B TODO\n+c\n d\n"
        "@@ -10,2 +11,3 @@\n x\n+<<<<<<< HEAD\n y\n\\ No newline at end of file\n"
    )
    assert added_from_patch(patch) == [(2, "B TODO"), (3, "c"), (12, "<<<<<<< HEAD")]
    file = ChangedFile("notes.txt", "modified", added_lines=frozenset({2, 3, 12}), patch=patch)
    report = scan([file], {}, large_pr_lines=800, risky_paths=[])
    assert [(f.rule_id, f.start_line) for f in report.findings] == [
        ("todo-added", 2),
        ("merge-marker", 12),
    ]


def test_minified_lines_are_not_scanned() -> None:
    long_line = "var a=1;" * 500 + "/* TODO */ debugger;"
    text = f"{long_line}\n// TODO: short one\n"
    report = _scan([(_file("static/app.min.js", text), text)])
    assert [(f.rule_id, f.start_line) for f in report.findings] == [("todo-added", 2)]


# IPython 8.25's IPython/core/hooks.py (its module docstring, re-indented in that release)
# and historyapp.py (a real print in an application's start())
IPYTHON_HOOKS = '''"""Hooks for IPython.

For example, you could use a startup file like this::

    import os

    def calljed(self,filename, linenum):
        "My editor hook calls the jed editor directly."
        print("Calling my own editor, jed ...")
        if os.system('jed +%d %s' % (linenum,filename)) != 0:
            raise TryNext()
"""
'''
IPYTHON_HISTORYAPP = """class HistoryApp(Application):
    def start(self):
        if self.subapp is None:
            print(
                "No subcommand specified. Must specify one of: "
                + ", ".join(map(repr, self.subcommands))
            )
"""
# pytest 8.0's Config.get_verbosity docstring
PYTEST_VERBOSITY = '''class Config:
    def get_verbosity(self, verbosity_type=None):
        r"""Retrieve the verbosity level for a fine-grained verbosity type.

        .. code-block:: python

            print(config.get_verbosity())  # 1
            print(config.get_verbosity(Config.VERBOSITY_ASSERTIONS))  # 2
        """
        global_level = self.option.verbose
'''


def test_print_in_a_docstring_example_is_not_a_stray_print() -> None:
    files = [
        ("IPython/core/hooks.py", IPYTHON_HOOKS),
        ("IPython/core/historyapp.py", IPYTHON_HISTORYAPP),
        ("src/_pytest/config/__init__.py", PYTEST_VERBOSITY),
    ]
    report = _scan([(_file(path, text), text) for path, text in files] + [TEST_FILE])
    assert _rules(report) == [("stray-print", 4)]
    assert report.findings[0].path == "IPython/core/historyapp.py"


# pytest 8.0's testing/test_debugging.py writes a test module that calls pdb, and
# src/_pytest/hookspec.py documents a hook in terms of pdb.set_trace()
PYTEST_PDB_TEST = '''class TestPDB:
    def test_pdb_set_trace_interception(self, pytester: Pytester) -> None:
        p1 = pytester.makepyfile(
            """
            import pdb
            def test_1():
                pdb.set_trace()
        """
        )
        child = pytester.spawn_pytest(str(p1))
        breakpoint()
'''
PYTEST_HOOKSPEC = '''def pytest_enter_pdb(config: "Config", pdb: "pdb.Pdb") -> None:
    """Called upon pdb.set_trace().

    Can be used by plugins to take special action just before the python
    debugger enters interactive mode.
    """
'''


def test_debugger_calls_in_strings_and_docstrings_are_data() -> None:
    pdb_test = _file("testing/test_debugging.py", PYTEST_PDB_TEST)
    hookspec = _file("src/_pytest/hookspec.py", PYTEST_HOOKSPEC)
    report = _scan([(pdb_test, PYTEST_PDB_TEST), (hookspec, PYTEST_HOOKSPEC)])
    assert [(f.rule_id, f.path, f.start_line) for f in report.findings] == [
        ("debugger", "testing/test_debugging.py", 11)  # the breakpoint() that runs
    ]


# hypothesis 6.100's extra/ghostwriter.py: a comment is a note, the string is generated code
GHOSTWRITER = """def _make_test(imports, body):
    # TODO: it would be great to handle Google- and Numpy-style docstrings
    nothings = body.count("st.nothing()")
    if nothings == 1:
        header += "# TODO: replace st.nothing() with an appropriate strategy\\n\\n"
    elif nothings >= 1:
        header += "# TODO: replace st.nothing() with appropriate strategies\\n\\n"
    return black.format_str(header + body, mode=black.FileMode())
"""
# docutils 0.21's tools/buildhtml.py: a TODO in a docstring is a note too
BUILDHTML = '''def fnmatch_list(name, patterns):
    """Return True, if `name` matches any item of the sequence `patterns`.

    PROVISIONAL.
    TODO: use `pathlib.PurePath.match()` once this supports "**".
    """
'''


def test_todo_counts_in_comments_and_docstrings_not_in_string_data() -> None:
    files = [("src/hypothesis/extra/ghostwriter.py", GHOSTWRITER), ("tools/buildhtml.py", BUILDHTML)]
    report = _scan([(_file(path, text), text) for path, text in files] + [TEST_FILE])
    assert [(f.rule_id, f.path, f.start_line) for f in report.findings] == [
        ("todo-added", "src/hypothesis/extra/ghostwriter.py", 2),
        ("todo-added", "tools/buildhtml.py", 5),
    ]


def test_a_todo_moved_to_another_file_is_not_added() -> None:
    """Sphinx 7.3 split domains/c.py into a package: its TODOs came back as added lines."""
    old = ChangedFile(
        "sphinx/domains/c.py",
        "deleted",
        patch="@@ -2296,3 +0,0 @@\n-        #  | initializer-list ',' initializer-clause '...'[opt]\n"
        "-        # TODO: designators\n-        self.skip_ws()\n",
    )
    parser = (
        "        #  | initializer-list ',' initializer-clause '...'[opt]\n"
        "        # TODO: designators\n"
        "        self.skip_ws()\n"
    )
    html5 = (
        "        if (\n"
        "                isinstance(node.parent, nodes.topic)\n"
        "                and self.body[-1].startswith('<a ')\n"
        "                # TODO: only remove for EPUB\n"
        "        ):\n"
    )
    report = _scan(
        [
            (old, None),
            (_file("sphinx/domains/c/_parser.py", parser, status="added"), parser),
            (_file("sphinx/writers/html5.py", html5), html5),
            TEST_FILE,
        ]
    )
    assert [(f.rule_id, f.path, f.start_line) for f in report.findings] == [
        ("todo-added", "sphinx/writers/html5.py", 4)
    ]


# (data file, its lines, a file of the project's own, its lines): only the last has a TODO to report
THEIR_TODOS = [
    pytest.param(  # docutils 0.21's expected writer output copies the input's TODOs and XXX
        "test/functional/expected/mathematics_mathml.html",
        "<!-- TODO: \\operatorname* for function name with limits. -->\n"
        'width of its argument. For example <span class="docutils literal">\\phantom{XXX}</span> results in\n',
        "tests/test_domains/test_domain_cpp.py",
        "    # TODO: the first one should not happen\n    check('function', 'void f()', {1: 'f'})\n",
        id="test-data",
    ),
    pytest.param(  # pip 24.1 updated its vendored packaging, whose metadata.py holds TODOs
        "src/pip/_vendor/packaging/metadata.py",
        "        # TODO: The spec doesn't say anything about if the keys should be\n"
        "    description: _Validator[str | None] = _Validator()  # TODO 2.1: can be in body\n",
        "src/pip/_internal/resolution/resolvelib/candidates.py",
        "    # TODO performance: this means we iterate the dependencies at least twice,\n",
        id="vendored",
    ),
]


@pytest.mark.parametrize(("data_path", "data", "own_path", "own"), THEIR_TODOS)
def test_todo_in_test_data_or_vendored_code_is_not_ours(
    data_path: str, data: str, own_path: str, own: str
) -> None:
    report = _scan([(_file(data_path, data), data), (_file(own_path, own), own), TEST_FILE])
    assert [(f.rule_id, f.path, f.start_line) for f in report.findings] == [("todo-added", own_path, 1)]
