"""bandit findings that its own test logic gets wrong, told apart on the parsed source.

Two misfires seen on real releases (requests 2.32.0, flask 3.1.0), both bugs in bandit
1.9's plugins rather than judgement calls:

- B113 (request without timeout) looks at the first and last parts of the call's name
  only, so ``requests.codes.get("TOO_EARLY")`` (a status-code lookup table) is "a call to
  requests without timeout". The HTTP functions are ``requests.<verb>`` and
  ``requests.api.<verb>``; a longer chain is an attribute of something else.
- B105 (hard-coded password string) reports a dictionary entry whose key looks like a
  password whatever the value's type, so ``"SECRET_KEY_FALLBACKS": None`` is "a hard-coded
  password 'None'". ``None``, booleans and numbers are not password strings.

B105 also takes any string compared with or stored under a password-like name for a
password: ``assert ret_password == ""`` (keyring 25.0's tests) and ``'token_type': 'Bearer'``
(authlib 1.3.0's RFC 9068 introspection, where "Bearer" is the scheme RFC 6750 names).
An empty string and an HTTP authentication scheme's name are not password strings either.

A third is a judgement bandit cannot make on one call: B301/B302 (pickle, marshal) on
``pickle.loads(pickle.dumps(config))`` (Sphinx 7.3's config tests), which loads what the same
line made and never data from outside; so is ``state = pickle.dumps(pes)`` then
``pickle.loads(state)`` (SQLAlchemy 2.0.30's pickling test), where only the dump binds the
name. Shunter's own rule leaves such a round trip out (``arg_not_call`` in
``policies/rules/unsafe-deserialisation.yml``), and so does this.

These findings are dropped: there is nothing on the line for a maintainer to act on.
"""

from __future__ import annotations

import ast

from bot.engines.own_rules import import_aliases, made_by, qualify
from bot.models import Finding

_HTTP_VERBS = {"get", "options", "head", "post", "put", "patch", "delete"}


def is_misfire(finding: Finding, tree: ast.Module | None) -> bool:
    """Whether bandit's ``finding`` is one of the known misfires, judged on ``tree``."""
    if tree is None:
        return False
    if finding.rule_id == "B113":
        return _not_a_request_call(tree, finding.start_line)
    if finding.rule_id == "B105":
        line = finding.start_line
        return _password_key_without_string(tree, line) or _only_empty_or_scheme_strings(tree, line)
    if finding.rule_id in ("B301", "B302"):
        return _round_trip(tree, finding.start_line)
    return False


def _dotted(node: ast.expr) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def _not_a_request_call(tree: ast.Module, line: int) -> bool:
    """Every verb call on the line is ``<module>.<something>.<verb>`` (not ``.api.``)."""
    chains = [
        _dotted(node.func)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and node.lineno == line and isinstance(node.func, ast.Attribute)
        and node.func.attr in _HTTP_VERBS
    ]
    return bool(chains) and all(
        chain is not None and len(chain) >= 3 and chain[-2] != "api" for chain in chains
    )


def _password_key_without_string(tree: ast.Module, line: int) -> bool:
    """The line's only string literals are dictionary keys whose values are ``None``,
    a boolean or a number: nothing on it could be a password."""
    strings = {
        id(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.lineno == line
    }
    keys_without_string = {
        id(key)
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        for key, value in zip(node.keys, node.values, strict=True)
        if key is not None
        and key.lineno == line
        and isinstance(value, ast.Constant)
        and not isinstance(value.value, str | bytes)
    }
    return bool(strings) and strings <= keys_without_string


# HTTP authentication schemes (IANA's registry) a token's type names, lower-cased
_AUTH_SCHEMES = {"basic", "bearer", "digest", "dpop", "hoba", "mutual", "negotiate", "ntlm", "mac"}


def _only_empty_or_scheme_strings(tree: ast.Module, line: int) -> bool:
    """Every string on the line is a dictionary key, empty, or an authentication scheme's name."""
    keys = {id(key) for node in ast.walk(tree) if isinstance(node, ast.Dict) for key in node.keys}
    values = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.lineno == line
        and id(node) not in keys
    ]
    return bool(values) and all(v == "" or v.lower() in _AUTH_SCHEMES for v in values)


_DUMPS = {"pickle.dumps", "_pickle.dumps", "cPickle.dumps", "dill.dumps", "marshal.dumps"}
_LOADS = {name.replace("dumps", "loads") for name in _DUMPS}


def _round_trip(tree: ast.Module, line: int) -> bool:
    """Every load on the line loads what a dump made: ``<module>.loads(<module>.dumps(...))``,
    or a local name only such dumps assign (own_rules.made_by)."""
    aliases = import_aliases(tree)
    scope = _innermost_function(tree, line)
    loads = [
        node
        for node in ast.walk(scope)
        if isinstance(node, ast.Call) and node.lineno == line and qualify(node.func, aliases) in _LOADS
    ]
    dumps = sorted(_DUMPS)
    return bool(loads) and all(node.args and made_by(node.args[0], dumps, aliases, scope) for node in loads)


def _innermost_function(tree: ast.Module, line: int) -> ast.AST:
    """The innermost function whose lines hold ``line``, or the module."""
    scope: ast.AST = tree
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.lineno <= line <= (node.end_lineno or node.lineno)
            and (scope is tree or node.lineno >= getattr(scope, "lineno", 0))
        ):
            scope = node
    return scope
