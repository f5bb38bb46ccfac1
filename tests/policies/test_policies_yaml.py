"""Safe YAML: plain data with positions; tags, bombs, size and depth refused fast.

"Fast" is asserted as bounded work (events pulled from the parser, values copied for
aliases), not as wall-clock time: a loaded CI machine stretches any time limit.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.errors import ConfigError
from bot.policies import safe_yaml
from bot.policies.safe_yaml import MAX_BYTES, MAX_DEPTH, MAX_NODES, parse_yaml


def _problem(text: str | bytes) -> tuple[int, int, str]:
    with pytest.raises(ConfigError) as info:
        parse_yaml(text)
    assert len(info.value.problems) == 1
    return info.value.problems[0]


def test_plain_data_with_yaml_1_2_scalars() -> None:
    doc = parse_yaml("on: [opened, yes, no, on]\nn: 0o17\nf: 1.5\nb: true\nz: null\nd: 2020-01-02\n")
    assert doc.data == {
        "on": ["opened", "yes", "no", "on"],
        "n": 15,
        "f": 1.5,
        "b": True,
        "z": None,
        "d": "2020-01-02",
    }


def test_positions_of_keys_and_values_are_one_based() -> None:
    doc = parse_yaml("stages:\n  review:\n    fail_on: warn\n    on: [opened, closed]\n")
    assert doc.locate(("stages", "review", "fail_on")) == (3, 14)
    assert doc.locate(("stages", "review", "fail_on"), key=True) == (3, 5)
    assert doc.locate(("stages", "review", "on", 1)) == (4, 18)
    # unknown deeper paths fall back to the nearest ancestor
    assert doc.locate(("stages", "review", "nope", "deeper")) == (3, 5)


def test_empty_file_is_an_empty_mapping() -> None:
    assert parse_yaml("").data == {}
    assert parse_yaml("# only a comment\n").data == {}


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        ("a: !foo x\n", (1, 4), "tags are not allowed"),
        ("a: !!python/object:os.system x\n", (1, 4), "!!python/object:os.system"),
        ("a: !!set {x}\n", (1, 4), "tags are not allowed"),
        ("a: 1\nb: 2\na: 3\n", (3, 1), "duplicate key 'a' (first defined at line 1)"),
        ("- 1\n- 2\n", (1, 1), "must be a mapping"),
        ("a: [1,\n", (2, 1), "invalid YAML"),
        ("? [a, b]\n: 1\n", (1, 3), "complex"),
        ("1: x\n", (1, 1), "keys must be text"),
        ("a: &x [*x]\n", (1, 8), "recursive aliases are not allowed"),
        ("a: 1\n---\nb: 2\n", (2, 1), "only one YAML document"),
    ],
)
def test_refusals_are_located(text: str, where: tuple[int, int], fragment: str) -> None:
    line, column, message = _problem(text)
    assert (line, column) == where
    assert fragment in message


@pytest.mark.parametrize("value", ["0x_", "0o_", "9" * 5000])
def test_numbers_yaml_accepts_but_python_cannot_build_are_located(value: str) -> None:
    line, column, message = _problem(f"version: 1\npatches:\n  max_files: {value}\n")
    assert (line, column) == (3, 14) and "is not a number" in message and len(message) < 120


def test_aliases_within_budget_are_expanded() -> None:
    doc = parse_yaml("base: &p [a/**, b/**]\nother: *p\n")
    assert doc.data["other"] == ["a/**", "b/**"]
    assert doc.data["other"] is not doc.data["base"]


@dataclass
class Work:
    """What a parse did: events pulled from ruamel.yaml, values deep-copied for aliases."""

    events: int = 0
    copied: int = 0


def _size(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(_size(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(_size(v) for v in value)
    return 1


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> Work:
    seen = Work()
    events = safe_yaml._events

    def counted_events(text: str) -> Iterator[Any]:
        for event in events(text):
            seen.events += 1
            yield event

    def counted_copy(value: Any) -> Any:
        seen.copied += _size(value)
        return copy.deepcopy(value)

    monkeypatch.setattr(safe_yaml, "_events", counted_events)
    monkeypatch.setattr(safe_yaml, "copy", type("CountingCopy", (), {"deepcopy": staticmethod(counted_copy)}))
    return seen


def test_billion_laughs_is_refused_fast(work: Work) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    line, _, message = _problem("\n".join(lines))
    assert "alias bomb" in message
    assert line <= 6
    # refused before copying past the budget (9**10 values if expanded)
    assert 0 < work.copied <= MAX_NODES


def test_oversized_file_is_refused_before_parsing(work: Work) -> None:
    _, _, message = _problem(b"a: '" + b"x" * MAX_BYTES + b"'\n")
    assert f"the limit is {MAX_BYTES}" in message
    assert work.events == 0


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 50_000,
        "".join("  " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5)) + "  " * 30 + "x: 1\n",
    ],
    ids=["flow", "block"],
)
def test_deep_nesting_is_refused_fast(text: str, work: Work) -> None:
    line, column, message = _problem(text)
    assert f"nested deeper than {MAX_DEPTH}" in message
    # refused at the level past the limit, not after reading the rest of the nesting
    assert line <= MAX_DEPTH + 2 and column <= 2 * MAX_DEPTH + 4
    assert work.events <= 2 * MAX_DEPTH + 8


def test_non_utf8_is_a_clear_error() -> None:
    _, _, message = _problem(b"a: \xff\xfe\n")
    assert "UTF-8" in message
