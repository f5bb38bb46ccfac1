"""Shunter's own security rules (``policies/rules/*.yml``) and the AST matcher that runs them.

The rules are data so maintainers can read and extend them; the matcher is small and
pure-Python so the default install enforces them without semgrep. A rule's ``match`` is a
list of alternatives; each alternative is one node kind (``call``, ``reference`` or
``assign``) plus conditions that must all hold:

- ``call: [qualified.name, "*.method", "*"]`` resolved through the file's imports,
- ``kwarg: {name: constant}`` the keyword is given as that literal,
- ``arg_nonliteral: {index, name}`` the argument exists and is not a plain literal,
- ``arg_formatted: {index, name}`` the argument is built by f-string, ``%``, ``+`` or
  ``.format()`` (directly, or through a local variable assigned such a value),
- ``arg_not_in: {index, name, allowed}`` the argument is missing or not one of ``allowed``,
- ``arg_equals: {index, values}`` the argument is one of these string literals,
- ``arg_mentions: regex`` some name, attribute or string inside the arguments matches,
- ``arg_not_call: {index, name, calls}`` the argument is not made on the spot by one of
  these calls (``pickle.loads(pickle.dumps(config))`` loads what the line itself made), nor
  held in a local name only they assign (``state = pickle.dumps(x)``; ``pickle.loads(state)``),
- ``reference: [qualified.name]`` the name is used anywhere (called or not),
- ``assign: {target, value}`` a module-level assignment of that literal.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.engines.security_findings import EngineReport, RuleInfo
from bot.errors import ConfigError
from bot.models import Finding, Severity, StageName

ENGINE = "rules"


def rules_dir() -> Path:
    """``policies/rules`` of this installation (a checkout, or ``share/shunter`` of a wheel)."""
    from bot.policies.presets import policies_dir

    return policies_dir() / "rules"


class ArgRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index: int | None = None
    name: str | None = None


class ArgNotIn(ArgRef):
    allowed: list[str]


class ArgEquals(ArgRef):
    values: list[str]


class ArgCalls(ArgRef):
    calls: list[str]


class AssignMatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: str
    value: Any


class Clause(BaseModel):
    model_config = ConfigDict(extra="forbid")
    call: list[str] | None = None
    reference: list[str] | None = None
    assign: AssignMatch | None = None
    kwarg: dict[str, Any] = Field(default_factory=dict)
    arg_nonliteral: ArgRef | None = None
    arg_formatted: ArgRef | None = None
    arg_not_in: ArgNotIn | None = None
    arg_equals: ArgEquals | None = None
    arg_mentions: str | None = None
    arg_not_call: ArgCalls | None = None


class Rule(BaseModel):
    """One ``policies/rules/*.yml`` file."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str
    message: str
    severity: Severity
    confidence: Literal["low", "medium", "high"] = "medium"
    cwe: int | None = None
    aliases: list[str] = Field(default_factory=list)
    help: str
    fix: str
    autofix: str | None = None
    match: list[Clause] = Field(min_length=1)
    semgrep: dict[str, Any] | None = None

    def info(self) -> RuleInfo:
        return RuleInfo(
            id=self.id,
            name=self.name,
            short=self.message.replace("`{callee}`", "This call").replace("{callee}", "This"),
            help=f"{self.help.strip()}\n\nFix: {self.fix}",
            cwe=self.cwe,
            fix=self.fix,
            help_uri=f"https://cwe.mitre.org/data/definitions/{self.cwe}.html" if self.cwe else None,
        )


def load_rules(directory: Path | None = None) -> list[Rule]:
    """Parse and validate every rule file; a broken rule is a ``ConfigError`` naming it.

    No rules at all is also an error: a check that silently stopped enforcing its rules
    would look exactly like a clean one.
    """
    return list(_load_rules_cached(str(directory or rules_dir())))


@lru_cache(maxsize=8)
def _load_rules_cached(directory: str) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for path in sorted(Path(directory).glob("*.yml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            rules.append(Rule.model_validate(data))
        except (yaml.YAMLError, ValidationError) as exc:
            raise ConfigError(f"invalid security rule {path.name}: {exc}", path=str(path)) from exc
    if not rules:
        raise ConfigError(f"no security rules found in {directory}", path=directory)
    ids = [r.id for r in rules]
    if len(ids) != len(set(ids)):
        raise ConfigError(f"duplicate security rule ids in {directory}", path=directory)
    return tuple(rules)


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class Match:
    rule: Rule
    node: ast.AST
    callee: str


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def _statements(tree: ast.AST) -> Iterator[ast.stmt]:
    """Every statement, at any depth, without walking into expressions (imports are here)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, name, None)
            if isinstance(children, list):
                for child in children:
                    if isinstance(child, ast.stmt):
                        yield child
                    stack.append(child)


def import_aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> qualified name, from every import in the file (any scope)."""
    aliases: dict[str, str] = {}
    for node in _statements(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    aliases.setdefault(top, top)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def qualify(node: ast.AST, aliases: Mapping[str, str]) -> str | None:
    dotted = _dotted(node)
    if dotted is None:
        return None
    head, _, rest = dotted.partition(".")
    resolved = aliases.get(head, head)
    return f"{resolved}.{rest}" if rest else resolved


def _name_matches(patterns: list[str], func: ast.AST, qualified: str | None) -> bool:
    for pattern in patterns:
        if pattern == "*":
            return True
        if pattern.startswith("*."):
            if isinstance(func, ast.Attribute) and func.attr == pattern[2:]:
                return True
        elif qualified == pattern:
            return True
    return False


def _arg(call: ast.Call, ref: ArgRef) -> ast.expr | None:
    if ref.name:
        for kw in call.keywords:
            if kw.arg == ref.name:
                return kw.value
    if ref.index is not None and ref.index < len(call.args):
        arg = call.args[ref.index]
        return None if isinstance(arg, ast.Starred) else arg
    return None


def _is_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.JoinedStr):
        return all(isinstance(v, ast.Constant) for v in node.values)
    if isinstance(node, ast.List | ast.Tuple):
        return all(_is_literal(e) for e in node.elts)
    return False


def _is_formatted(node: ast.AST) -> bool:
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return not (_is_literal(node.left) and _is_literal(node.right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "format" and isinstance(node.func.value, ast.Constant | ast.Name)
    return False


def _literal_value(node: ast.AST) -> tuple[bool, Any]:
    if isinstance(node, ast.Constant):
        return True, node.value
    return False, None


@dataclass
class _Index:
    """Clauses by what can trigger them, so each AST node only meets its candidates."""

    exact: dict[str, list[tuple[Rule, Clause]]]
    methods: dict[str, list[tuple[Rule, Clause]]]
    any_call: list[tuple[Rule, Clause]]
    references: dict[str, list[Rule]]
    reference_tails: frozenset[str]
    assigns: list[tuple[Rule, AssignMatch]]


def _index(rules: list[Rule]) -> _Index:
    exact: dict[str, list[tuple[Rule, Clause]]] = {}
    methods: dict[str, list[tuple[Rule, Clause]]] = {}
    any_call: list[tuple[Rule, Clause]] = []
    references: dict[str, list[Rule]] = {}
    assigns: list[tuple[Rule, AssignMatch]] = []
    for rule in rules:
        for clause in rule.match:
            for pattern in clause.call or []:
                if pattern == "*":
                    any_call.append((rule, clause))
                elif pattern.startswith("*."):
                    methods.setdefault(pattern[2:], []).append((rule, clause))
                else:
                    exact.setdefault(pattern, []).append((rule, clause))
            for name in clause.reference or []:
                references.setdefault(name, []).append(rule)
            if clause.assign is not None:
                assigns.append((rule, clause.assign))
    tails = frozenset(name.rsplit(".", 1)[-1] for name in references)
    return _Index(exact, methods, any_call, references, tails, assigns)


class _Matcher(ast.NodeVisitor):
    def __init__(self, rules: list[Rule], aliases: Mapping[str, str]) -> None:
        self.index = _index(rules)
        self.aliases = aliases
        self.matches: list[Match] = []
        self.scopes: list[ast.AST] = []
        self.assigned: dict[int, dict[str, list[ast.expr]]] = {}
        self.depth = 0

    # assignments are tracked per function so ``q = f"..."; cur.execute(q)`` is seen;
    # they are collected lazily, only for scopes where a formatted-argument check asks
    def _visit_scope(self, node: ast.AST) -> None:
        self.scopes.append(node)
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1
        self.scopes.pop()

    visit_FunctionDef = _visit_scope
    visit_AsyncFunctionDef = _visit_scope

    def visit_Module(self, node: ast.Module) -> None:
        self.scopes = [node]
        self.generic_visit(node)

    def _scope_assignments(self) -> dict[str, list[ast.expr]]:
        scope = self.scopes[-1]
        key = id(scope)
        if key not in self.assigned:
            self.assigned[key] = _assignments(scope)
        return self.assigned[key]

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        qualified = qualify(func, self.aliases) if isinstance(func, ast.Name | ast.Attribute) else None
        candidates: list[tuple[Rule, Clause]] = []
        if qualified is not None:
            candidates += self.index.exact.get(qualified, [])
        if isinstance(func, ast.Attribute):
            candidates += self.index.methods.get(func.attr, [])
        candidates += self.index.any_call
        done: set[str] = set()
        for rule, clause in candidates:
            if rule.id not in done and self._conditions(clause, node):
                done.add(rule.id)
                callee = qualified or (_dotted(func) or "call")
                self.matches.append(Match(rule, node, callee))
        self.generic_visit(node)

    def _reference(self, node: ast.Name | ast.Attribute) -> None:
        qualified = qualify(node, self.aliases)
        for rule in self.index.references.get(qualified or "", []):
            self.matches.append(Match(rule, node, qualified or ""))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in self.index.reference_tails:
            self._reference(node)
        # ``ssl.CERT_NONE`` must not also be reported as ``ssl``: don't descend into names
        if not isinstance(node.value, ast.Name):
            self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        target = self.aliases.get(node.id)
        if target and target != node.id and target.rsplit(".", 1)[-1] in self.index.reference_tails:
            self._reference(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        if self.depth == 0 and self.index.assigns:
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            ok, value = _literal_value(node.value)
            for rule, a in self.index.assigns:
                if a.target in targets and ok and value == a.value:
                    self.matches.append(Match(rule, node, f"{a.target} = {value!r}"))
        self.generic_visit(node)

    def _conditions(self, clause: Clause, call: ast.Call) -> bool:
        for name, wanted in clause.kwarg.items():
            kw = next((k for k in call.keywords if k.arg == name), None)
            if kw is None:
                return False
            ok, value = _literal_value(kw.value)
            if not ok or value != wanted:
                return False
        if clause.arg_nonliteral:
            arg = _arg(call, clause.arg_nonliteral)
            if arg is None or _is_literal(arg):
                return False
        if clause.arg_formatted:
            arg = _arg(call, clause.arg_formatted)
            if arg is None or not self._formatted(arg):
                return False
        if clause.arg_not_in:
            arg = _arg(call, clause.arg_not_in)
            if arg is not None:
                if qualify(arg, self.aliases) in clause.arg_not_in.allowed:
                    return False
                if _dotted(arg) in clause.arg_not_in.allowed:
                    return False
        if clause.arg_equals:
            arg = _arg(call, clause.arg_equals)
            ok, value = _literal_value(arg) if arg is not None else (False, None)
            if not ok or value not in clause.arg_equals.values:
                return False
        if clause.arg_not_call:
            arg = _arg(call, clause.arg_not_call)
            if arg is not None and made_by(arg, clause.arg_not_call.calls, self.aliases, self.scopes[-1]):
                return False
        if clause.arg_mentions:
            pattern = _regex(clause.arg_mentions)
            every = [*call.args, *(k.value for k in call.keywords)]
            if not any(_mentions(a, pattern) for a in every):
                return False
        return True

    def _formatted(self, arg: ast.expr) -> bool:
        if _is_formatted(arg):
            return True
        if isinstance(arg, ast.Name):
            return any(_is_formatted(v) for v in self._scope_assignments().get(arg.id, []))
        return False


@lru_cache(maxsize=64)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def made_by(arg: ast.expr, calls: list[str], aliases: Mapping[str, str], scope: ast.AST) -> bool:
    """``arg`` is made by one of ``calls``: on the spot (``loads(dumps(x))``), or in a local
    name that only such calls bind (``state = pickle.dumps(x)`` ... ``pickle.loads(state)``,
    SQLAlchemy 2.0.30's pickling tests). A name that is also a parameter, a loop or ``with``
    target, unpacked, or declared global may hold anything, so it does not count."""
    if isinstance(arg, ast.Call):
        return qualify(arg.func, aliases) in calls
    if not isinstance(arg, ast.Name):
        return False
    values = _assignments(scope).get(arg.id, [])
    return (
        bool(values)
        and all(isinstance(v, ast.Call) and qualify(v.func, aliases) in calls for v in values)
        and _bindings(scope, arg.id) == len(values)
    )


def _bindings(scope: ast.AST, name: str) -> int:
    """How many times ``name`` is bound directly in ``scope``; a parameter or a global or
    nonlocal declaration counts as one more than any assignment could match."""
    if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        a = scope.args
        if name in {p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg] if p}:
            return -1
    count = 0
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        if isinstance(node, ast.Global | ast.Nonlocal) and name in node.names:
            return -1
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store | ast.Del):
            count += 1
        stack.extend(ast.iter_child_nodes(node))
    return count


def _assignments(scope: ast.AST) -> dict[str, list[ast.expr]]:
    """Values assigned to simple names directly in this scope (not in nested functions)."""
    found: dict[str, list[ast.expr]] = {}
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found.setdefault(target.id, []).append(node.value)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            found.setdefault(node.target.id, []).append(
                ast.BinOp(left=node.target, op=node.op, right=node.value)
            )
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            found.setdefault(node.target.id, []).append(node.value)
        stack.extend(ast.iter_child_nodes(node))
    return found


def _mentions(node: ast.AST, pattern: re.Pattern[str]) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and pattern.search(sub.id):
            return True
        if isinstance(sub, ast.Attribute) and pattern.search(sub.attr):
            return True
        if isinstance(sub, ast.arg) and pattern.search(sub.arg):
            return True
    return False


def match_tree(tree: ast.AST, rules: list[Rule]) -> list[Match]:
    matcher = _Matcher(rules, import_aliases(tree))
    matcher.visit(tree)
    return matcher.matches


def scan_python(sources: Mapping[str, ast.Module], rules: list[Rule] | None = None) -> EngineReport:
    """Run the rules over already-parsed modules (the stage parses each file once)."""
    rules = load_rules() if rules is None else rules
    report = EngineReport(engine=ENGINE)
    for rule in rules:
        report.rules[rule.id] = rule.info()
        report.aliases[rule.id] = tuple(rule.aliases)
    for path, tree in sources.items():
        try:
            matches = match_tree(tree, rules)
        except (RecursionError, ValueError, TypeError) as exc:  # one odd file must not sink all
            report.notes.append(f"Shunter's rules could not check {path}: {type(exc).__name__}")
            continue
        report.findings.extend(to_finding(path, m) for m in matches)
    return report


def to_finding(path: str, m: Match) -> Finding:
    start = getattr(m.node, "lineno", 1)
    end = getattr(m.node, "end_lineno", None) or start
    return Finding(
        stage=StageName.SECURITY,
        rule_id=m.rule.id,
        severity=m.rule.severity,
        message=m.rule.message.format(callee=m.callee),
        path=path,
        start_line=start,
        end_line=max(start, end),
        engine=ENGINE,
        title=m.rule.name,
        confidence=m.rule.confidence,
        cwe=m.rule.cwe,
        help_uri=m.rule.info().help_uri,
    )


def iter_autofix_matches(tree: ast.AST, rules: list[Rule]) -> Iterator[Match]:
    """Matches whose rule declares an ``autofix`` (the stage turns them into patches)."""
    yield from match_tree(tree, [r for r in rules if r.autofix])
