"""Which functions a pull request changed, found with the AST (not regexes).

A changed line belongs to the innermost ``def`` whose span holds it; lines outside any
function (module constants, imports) are not attributed. Nested functions count as part of
their outermost *addressable* function, because a test can only call what it can import:
``module.func`` or ``module.Class.method``.
"""

from __future__ import annotations

import ast
import keyword
from dataclasses import dataclass, field
from pathlib import PurePosixPath

TEST_DIR_NAMES = frozenset({"tests", "test", "testing"})


@dataclass(frozen=True)
class ChangedFunction:
    """A function or method with lines the PR added or modified."""

    path: str
    module: str
    """Dotted import name of the file (``pkg.mod``), relative to the source root."""
    qualname: str
    """``func`` or ``Class.method``: what a test imports from ``module``."""
    start_line: int
    end_line: int
    changed_lines: frozenset[int]
    is_method: bool = False
    is_async: bool = False
    is_private: bool = False
    decorators: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.qualname}"


@dataclass(frozen=True)
class ChangedModule:
    path: str
    module: str
    functions: list[ChangedFunction] = field(default_factory=list)
    parse_error: str | None = None


def is_test_path(path: str) -> bool:
    """Test code is not a target for generated tests (tests of tests are noise)."""
    parts = PurePosixPath(path).parts
    name = parts[-1]
    return (
        any(p in TEST_DIR_NAMES for p in parts[:-1])
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


def importable(module: str) -> bool:
    """Whether ``import module`` can name it: every dotted part an identifier and no
    keyword. ``scripts/build-docs.py`` or ``my dir/tool.py`` runs as a script but cannot be
    imported by a test, and ghostwriting one only quoted a multi-line ParseError."""
    parts = module.split(".")
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in parts)


def module_name(path: str, root: str | None = None) -> str:
    """``src/pkg/mod.py`` -> ``pkg.mod``; ``pkg/__init__.py`` -> ``pkg``. ``root`` is the
    folder imports start from (``project_layout.source_root``: a monorepo package's
    ``packages/a/src``); without it, the repository root or a top-level ``src``."""
    if root is None:
        root = "src" if path.startswith("src/") else ""
    if root and path.startswith(f"{root}/"):
        path = path[len(root) + 1 :]
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _decorator_names(node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, ...]:
    names = []
    for dec in node.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        names.append(ast.unparse(target))
    return tuple(names)


def changed_functions(
    path: str, source: str, added_lines: frozenset[int], root: str | None = None
) -> ChangedModule:
    """The functions of one file that contain added lines (pure; never raises on bad code);
    ``root`` is the folder its imports start from (``module_name``)."""
    module = module_name(path, root)
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError) as exc:
        return ChangedModule(path, module, parse_error=f"cannot parse {path}: {exc}")
    found: list[ChangedFunction] = []

    def visit(body: list[ast.stmt], prefix: str, in_class: bool) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}.", True)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                last = node.end_lineno or node.lineno
                lines = frozenset(n for n in added_lines if first <= n <= last)
                if lines:
                    found.append(
                        ChangedFunction(
                            path=path,
                            module=module,
                            qualname=f"{prefix}{node.name}",
                            start_line=node.lineno,
                            end_line=last,
                            changed_lines=lines,
                            is_method=in_class,
                            is_async=isinstance(node, ast.AsyncFunctionDef),
                            is_private=node.name.startswith("_") and not node.name.endswith("__"),
                            decorators=_decorator_names(node),
                        )
                    )

    visit(tree.body, "", False)
    return ChangedModule(path, module, functions=found)


def callers_of(path: str, source: str, helper: ChangedFunction) -> list[ChangedFunction]:
    """Public functions of the same module that call ``helper`` by name (pure).

    A private helper is tested through its callers: generating a test for a caller is
    how the helper's changed lines get run.
    """
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError):
        return []
    found: list[ChangedFunction] = []

    def calls_helper(node: ast.AST) -> bool:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id == helper.name:
                return True
            if isinstance(sub, ast.Attribute) and sub.attr == helper.name:
                return True
        return False

    def visit(body: list[ast.stmt], prefix: str, in_class: bool) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                visit(node.body, f"{prefix}{node.name}.", True)
            elif isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                qualname = f"{prefix}{node.name}"
                if qualname != helper.qualname and calls_helper(node):
                    found.append(
                        ChangedFunction(
                            path=path,
                            module=helper.module,
                            qualname=qualname,
                            start_line=node.lineno,
                            end_line=node.end_lineno or node.lineno,
                            changed_lines=frozenset(),
                            is_method=in_class,
                            decorators=_decorator_names(node),
                        )
                    )

    visit(tree.body, "", False)
    return found
