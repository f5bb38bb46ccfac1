"""Whether a Python file's change can alter what the code does, for ``untested-change``.

Asking for tests is right when a PR changes behaviour, and noise when it only modernises
annotations (``Optional[X]`` to ``X | None``), adds ``from __future__ import annotations``,
re-exports names from ``__init__``, bumps ``__version__``, edits docstrings or comments, or
reformats: there is nothing for a test to check. So the base and head modules are compared
as ASTs with those parts stripped. The base is rebuilt from the head text and the file's
patch (the heuristics never read blobs); whatever cannot be parsed or rebuilt counts as a
behaviour change, so the rule keeps firing when in doubt. Code for a later Python than
Shunter's (PEP 695 generics, ``except A, B:``) does not parse here but still tokenizes: its
two sides are compared token by token without comments, docstrings and line wrapping, so
a comment or docstring edit in such a file asks for no test either.
"""

from __future__ import annotations

import ast
import io
import tokenize

from bot.changes.unified import DiffFormatError, FilePatch, Hunk, HunkMismatch, apply_hunks, parse_file_diff

TYPING_FORMS = frozenset(
    {
        "Annotated",
        "Any",
        "Callable",
        "ClassVar",
        "Dict",
        "FrozenSet",
        "Generic",
        "Iterable",
        "Iterator",
        "List",
        "Literal",
        "Mapping",
        "MutableMapping",
        "Optional",
        "Sequence",
        "Set",
        "Tuple",
        "Type",
        "TypeAlias",
        "Union",
    }
)
"""Subscripted, these make a module-level ``X = Union[...]`` a type alias, not code."""
TYPE_FACTORIES = frozenset({"TypeVar", "ParamSpec", "TypeVarTuple", "NewType"})


def base_text(head: str, patch: str) -> str | None:
    """The base side of a file, from its head text and its hunks; None if they disagree."""
    try:
        forward = parse_file_diff(patch)
        backward = FilePatch(hunks=tuple(_reversed(h) for h in forward.hunks))
        return apply_hunks(head.encode(), backward).decode()
    except (DiffFormatError, HunkMismatch, UnicodeError):
        return None


def _reversed(hunk: Hunk) -> Hunk:
    flip = {"+": "-", "-": "+", " ": " "}
    return Hunk(
        hunk.header,
        hunk.new_start,
        hunk.new_len,
        hunk.old_start,
        hunk.old_len,
        tuple((flip[op], line) for op, line in hunk.lines),
    )


def changes_behaviour(base: str | None, head: str) -> bool:
    """True unless ``base`` and ``head`` differ only in what no test can observe
    (``base`` None: a new file, which changes behaviour if it holds any code)."""
    after = _behaviour(head)
    if after is None:
        before_tokens = None if base is None else _code_tokens(base)
        return before_tokens is None or before_tokens != _code_tokens(head)
    before = _behaviour(base if base is not None else "")
    return before is None or before != after


# no code in them: comments, the line breaks inside brackets, the file's encoding and end
_NOT_CODE = frozenset({tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER})
# the statement ends and block starts stay, in any spelling (``\r\n``, tabs, 2 spaces)
_SHAPE_ONLY = frozenset({tokenize.NEWLINE, tokenize.INDENT})


def _code_tokens(text: str) -> list[tuple[int, str]] | None:
    """``text``'s tokens less comments, line wrapping and statements that are only a
    string (docstrings); None when it does not tokenize."""
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type not in _NOT_CODE]
    except (tokenize.TokenError, SyntaxError):
        return None
    out: list[tuple[int, str]] = []
    start = 0  # where the current statement's tokens begin in ``out``
    for token in tokens:
        if (
            token.type == tokenize.NEWLINE
            and out[start:]
            and all(t == tokenize.STRING for t, _ in out[start:])
        ):
            del out[start:]  # a docstring or bare string: it and its line end go
            continue
        out.append((token.type, "" if token.type in _SHAPE_ONLY else token.string))
        if token.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            start = len(out)
    return out


def _behaviour(text: str) -> str | None:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return None
    tree.body = _module_body(tree.body)
    try:
        return ast.dump(_Strip().visit(tree))
    except RecursionError:
        return None


def _module_body(body: list[ast.stmt]) -> list[ast.stmt]:
    """Module-level statements minus metadata and type aliases (``__all__``, ``__version__``,
    ``T = TypeVar("T")``, ``Alias = Union[...]``)."""
    return [s for s in body if not (_is_metadata(s) or _is_type_alias(s))]


def _is_metadata(stmt: ast.stmt) -> bool:
    targets = stmt.targets if isinstance(stmt, ast.Assign) else []
    if isinstance(stmt, ast.AnnAssign | ast.AugAssign):
        targets = [stmt.target]
    names = [t.id for t in targets if isinstance(t, ast.Name)]
    return bool(names) and len(names) == len(targets) and all(_dunder(n) for n in names)


def _dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _is_type_alias(stmt: ast.stmt) -> bool:
    if type(stmt).__name__ == "TypeAlias":  # ``type X = ...`` (Python 3.12+)
        return True
    if isinstance(stmt, ast.AnnAssign):
        return _name(stmt.annotation) == "TypeAlias"
    if not isinstance(stmt, ast.Assign) or not all(isinstance(t, ast.Name) for t in stmt.targets):
        return False
    value = stmt.value
    if isinstance(value, ast.Subscript):
        return _name(value.value) in TYPING_FORMS
    if isinstance(value, ast.Call):
        return _name(value.func) in TYPE_FACTORIES
    return False


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _type_checking(node: ast.If) -> bool:
    return _name(node.test) == "TYPE_CHECKING"


class _Strip(ast.NodeTransformer):
    """Docstrings, bare constants, imports, annotations, ``@overload`` stubs and
    ``if TYPE_CHECKING:`` blocks go; line and column numbers are not dumped anyway."""

    def generic_visit(self, node: ast.AST) -> ast.AST:
        for name in ("type_comment", "type_params"):
            if hasattr(node, name):
                setattr(node, name, None if name == "type_comment" else [])
        return super().generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> ast.AST | None:
        return None if isinstance(node.value, ast.Constant) else self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        return None

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        return None

    def visit_If(self, node: ast.If) -> ast.AST | list[ast.stmt] | None:
        if _type_checking(node):
            return [self.visit(s) for s in node.orelse] or None
        return self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.annotation = None
        return self.generic_visit(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST | None:
        if any(_name(d) == "overload" for d in node.decorator_list):
            return None
        node.returns = None
        return self.generic_visit(node)

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        # the statement stays (in a class body it may be a dataclass or attrs field), its
        # type does not
        node.annotation = ast.Constant(None)
        return self.generic_visit(node)
