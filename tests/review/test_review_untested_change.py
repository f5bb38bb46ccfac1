"""``untested-change`` on real pull-request shapes, through the stage over a real git mirror.

The fixtures are cut from httpx 0.26 -> 0.28 and requests 2.32, whose releases modernised
annotations, added ``from __future__ import annotations``, re-exported names and bumped
``__version__``: changes with nothing for a test to check, which the rule used to flag.
"""

from __future__ import annotations

from bot.engines.behaviour_change import base_text, changes_behaviour
from bot.stages.review import run

BASE_EXIT = b"""import typing
from types import TracebackType

T = typing.TypeVar("T", bound="BaseTransport")


class BaseTransport:
    def __exit__(
        self,
        exc_type: typing.Optional[typing.Type[BaseException]] = None,
        exc_value: typing.Optional[BaseException] = None,
        traceback: typing.Optional[TracebackType] = None,
    ) -> None:
        self.close()
"""
HEAD_EXIT = b'''from __future__ import annotations

import typing
from types import TracebackType

T = typing.TypeVar("T", bound="BaseTransport")

__all__ = ["BaseTransport"]


class BaseTransport:
    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        """Close the transport."""
        self.close()
'''
TESTS = {"tests/test_client.py": b"def test_get():\n    assert True\n"}


def _untested(result) -> list[tuple[str, str]]:
    return [(f.path, f.message) for f in result.findings if f.rule_id == "untested-change"]


def test_annotation_only_modernisation_asks_for_no_tests(make_ctx) -> None:
    base = {"httpx/_transports/base.py": BASE_EXIT, **TESTS}
    head = {"httpx/_transports/base.py": HEAD_EXIT, **TESTS}
    assert _untested(run(make_ctx(base, head))) == []


def test_version_bump_and_reexports_ask_for_no_tests(make_ctx) -> None:
    # (path, base, head): a release's version bump, new re-exports, a new type-alias module
    changes = [
        ("src/requests/__version__.py", b'__version__ = "2.31.0"\n', b'__version__ = "2.32.0"\n'),
        ("src/requests/__init__.py", b"from .api import get\n", b"from .api import get, post\n"),
        ("src/requests/_types.py", None, b"import typing\n\nHeaders = typing.Mapping[str, str]\n"),
    ]
    base = {path: text for path, text, _ in changes if text is not None} | TESTS
    head = {path: text for path, _, text in changes} | TESTS
    assert _untested(run(make_ctx(base, head))) == []


def test_a_changed_default_or_new_code_still_asks_for_tests(make_ctx) -> None:
    changed_default = HEAD_EXIT.replace(b"exc_value: BaseException | None = None", b"exc_value=Exception()")
    base = {"httpx/_transports/base.py": BASE_EXIT, **TESTS}
    head = {
        "httpx/_transports/base.py": changed_default,
        "httpx/_utils.py": b"def is_ipv4(host: str) -> bool:\n    return host.count('.') == 3\n",
        **TESTS,
    }
    found = _untested(run(make_ctx(base, head)))
    assert len(found) == 1
    path, message = found[0]
    assert path == ""  # a remark on the pull request: it names both files, it sits on neither
    assert "`httpx/_transports/base.py`, `httpx/_utils.py`" in message


def test_base_rebuilt_from_head_and_patch() -> None:
    head = "a\nB\nc\nd\n"
    patch = "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n@@ -5 +4,0 @@\n-e\n"
    assert base_text(head, patch) == "a\nb\nc\nd\ne\n"
    assert base_text(head, "@@ -1,3 +1,3 @@\n x\n-b\n+B\n c\n") is None  # context disagrees
    assert changes_behaviour("def f(:\n", "def f(): pass\n")  # unparsable: counts as a change


# a monorepo cut from cachetools 5.3 and toolz 0.12: each package has its own pyproject.toml,
# src or flat layout and tests folder; the root holds the workspace's pyproject.toml
MONOREPO = {
    "pyproject.toml": b'[project]\nname = "workspace"\nversion = "0"\n',
    "packages/cachetools/pyproject.toml": b'[project]\nname = "cachetools"\nversion = "5.3.3"\n',
    "packages/cachetools/src/cachetools/__init__.py": b'__version__ = "5.3.3"\n',
    "packages/cachetools/src/cachetools/keys.py": b"def hashkey(*args):\n    return tuple(args)\n",
    "packages/cachetools/tests/__init__.py": b"",
    "packages/cachetools/tests/test_keys.py": (
        b"import unittest\n\nfrom cachetools import keys\n\n\nclass CacheKeysTest(unittest.TestCase):\n"
        b"    def test_hashkey(self):\n        self.assertEqual(keys.hashkey(1), (1,))\n"
    ),
    "packages/toolz/setup.py": b"from setuptools import setup\n\nsetup(name='toolz')\n",
    "packages/toolz/toolz/__init__.py": b"",
    "packages/toolz/toolz/utils.py": b"def raises(err, lamda):\n    return False\n",
    "packages/toolz/toolz/tests/test_utils.py": b"def test_raises():\n    assert True\n",
}
TYPED_KEY = b"def typedkey(*args):\n    return tuple(args) + tuple(map(type, args))\n"


def test_a_test_of_another_package_does_not_cover_a_change(make_ctx) -> None:
    head = MONOREPO | {
        "packages/cachetools/src/cachetools/keys.py": MONOREPO["packages/cachetools/src/cachetools/keys.py"]
        + b"\n\n"
        + TYPED_KEY,
        "packages/toolz/toolz/tests/test_utils.py": b"def test_raises():\n    assert not False\n",
    }
    found = _untested(run(make_ctx(MONOREPO, head)))
    assert len(found) == 1
    assert "`packages/cachetools/src/cachetools/keys.py`" in found[0][1]


def test_a_package_s_own_tests_or_the_root_s_cover_its_change(make_ctx) -> None:
    keys = MONOREPO["packages/cachetools/src/cachetools/keys.py"] + b"\n\n" + TYPED_KEY
    own = MONOREPO | {
        "packages/cachetools/src/cachetools/keys.py": keys,
        "packages/cachetools/tests/test_keys.py": MONOREPO["packages/cachetools/tests/test_keys.py"]
        + b"\n    def test_typedkey(self):\n        self.assertEqual(len(keys.typedkey(1)), 2)\n",
    }
    assert _untested(run(make_ctx(MONOREPO, own))) == []
    # a workspace-wide test folder at the root stands for every package below it
    root = MONOREPO | {
        "packages/cachetools/src/cachetools/keys.py": keys,
        "tests/test_integration.py": b"from cachetools import keys\n\n\ndef test_typed():\n    assert keys\n",
    }
    assert _untested(run(make_ctx(MONOREPO, root))) == []


# cut from hass-nabucasa 2.8.1 (``except A, B:``, Python 3.14) and aiohasupervisor 0.11.0
# (PEP 695 class generics, 3.12): code Shunter's Python cannot parse, but can tokenize
NEWER_PYTHON = '''"""Helpful utilities."""

import jwt


def expiration_from_token(token: str | None) -> int | None:
    """Return the expiration time from a token."""
    if not token:
        return None

    try:
        decoded_token = jwt.decode(
            token,
            options={"verify_signature": False},
        )
        return int(decoded_token["exp"])
    except jwt.DecodeError, KeyError:
        return None


class _ResponseIterator[T]:
    """Async iterator over a response body, which owns the response."""

    def __init__(self, response: T) -> None:
        self._response = response
'''


def test_comment_docstring_and_wrapping_edits_in_code_for_a_later_python_ask_for_no_test() -> None:
    edited = (
        NEWER_PYTHON.replace('"""Return the expiration time from a token."""', '"""When the token expires."""')
        .replace("    if not token:\n", "    if not token:  # nothing to decode\n")
        .replace('jwt.decode(\n            token,\n            options={"verify_signature": False},\n        )',
                 'jwt.decode(token, options={"verify_signature": False},)')
        .replace('    """Async iterator over a response body, which owns the response."""\n\n', "")
    )
    assert edited.count("\n") < NEWER_PYTHON.count("\n") - 4
    assert not changes_behaviour(NEWER_PYTHON, edited)
    # what a test could observe still counts, and so does a new file
    assert changes_behaviour(NEWER_PYTHON, NEWER_PYTHON.replace('["exp"]', '["iat"]'))
    assert changes_behaviour(NEWER_PYTHON, NEWER_PYTHON.replace("KeyError:", "KeyError, ValueError:"))
    assert changes_behaviour(None, NEWER_PYTHON)
