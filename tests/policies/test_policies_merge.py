"""Merging layers: mappings merge, everything else replaces; provenance follows the winner."""

from __future__ import annotations

import functools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.policies.merge import Layer, deep_merge, leaves, merge_layers, source_of


def test_mappings_merge_and_lists_replace() -> None:
    base = {"stages": {"review": {"on": ["opened", "synchronize"], "fail_on": "error"}}}
    over = {"stages": {"review": {"on": ["opened"]}, "tests": {"enabled": False}}}
    assert deep_merge(base, over) == {
        "stages": {
            "review": {"on": ["opened"], "fail_on": "error"},
            "tests": {"enabled": False},
        }
    }


def test_null_and_scalars_replace_mappings_and_back() -> None:
    assert deep_merge({"llm": None}, {"llm": {"model": "m"}}) == {"llm": {"model": "m"}}
    assert deep_merge({"llm": {"model": "m"}}, {"llm": None}) == {"llm": None}


def test_inputs_are_not_mutated() -> None:
    base = {"a": {"b": [1]}}
    over = {"a": {"c": 2}}
    merged = deep_merge(base, over)
    merged["a"]["b"].append(9)
    assert base == {"a": {"b": [1]}}
    assert over == {"a": {"c": 2}}


def test_provenance_names_the_last_writer_per_leaf() -> None:
    merged, prov = merge_layers(
        [
            Layer("default", {"patches": {"max_files": 20, "max_lines": 500}, "llm": None}),
            Layer("org", {"patches": {"max_files": 10}}),
            Layer("preset:strict", {"patches": {"max_lines": 200}}),
            Layer("repo", {"llm": {"model": "m"}}),
        ]
    )
    assert merged == {"patches": {"max_files": 10, "max_lines": 200}, "llm": {"model": "m"}}
    assert prov[("patches", "max_files")] == "org"
    assert prov[("patches", "max_lines")] == "preset:strict"
    assert prov[("llm", "model")] == "repo"
    assert ("llm",) not in prov  # replaced by a mapping: the old leaf is gone
    assert source_of(prov, ("llm", "provider")) == "default"  # filled in by the model


def test_empty_mapping_sets_nothing() -> None:
    _, prov = merge_layers([Layer("default", {"a": {"b": 1}}), Layer("repo", {"a": {}})])
    assert source_of(prov, ("a", "b")) == "default"


# -- properties ----------------------------------------------------------------------------

keys = st.sampled_from(["a", "b", "c", "d"])
scalars = st.one_of(st.integers(-3, 3), st.booleans(), st.none(), st.sampled_from(["x", "y"]))
values = st.recursive(
    st.one_of(scalars, st.lists(scalars, max_size=3)),
    lambda inner: st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
mappings = st.dictionaries(keys, values, max_size=4)
LABELS = ["default", "org", "preset:p", "repo"]


def _get(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


@settings(max_examples=80, deadline=None)
@given(st.lists(mappings, min_size=1, max_size=4))
def test_every_leaf_of_the_top_layer_wins(layers: list[dict[str, Any]]) -> None:
    merged, prov = merge_layers([Layer(LABELS[i], d) for i, d in enumerate(layers)])
    top = len(layers) - 1
    for path, value in leaves(layers[-1]).items():
        assert _get(merged, path) == value
        assert prov[path] == LABELS[top]


@settings(max_examples=80, deadline=None)
@given(st.lists(mappings, min_size=1, max_size=4))
def test_each_leaf_comes_from_the_highest_layer_that_sets_it(
    layers: list[dict[str, Any]],
) -> None:
    merged, prov = merge_layers([Layer(LABELS[i], d) for i, d in enumerate(layers)])
    for path, value in leaves(merged).items():
        label = source_of(prov, path)
        index = LABELS.index(label)
        assert _get(layers[index], path) == value
        for higher in layers[index + 1 :]:
            # no higher layer sets this leaf, nor replaces any of its ancestors
            for cut in range(1, len(path) + 1):
                try:
                    node = _get(higher, path[:cut])
                except (KeyError, TypeError):
                    break
                assert isinstance(node, dict), (path, cut)


@settings(max_examples=60, deadline=None)
@given(st.lists(mappings, max_size=4))
def test_merge_layers_is_a_left_fold_lowest_first(layers: list[dict[str, Any]]) -> None:
    """Not associative (a scalar between two mappings cuts the lower one off, as Hypothesis
    showed), so the order is fixed: each layer merges onto the result of those below."""
    merged, _ = merge_layers([Layer(LABELS[i], d) for i, d in enumerate(layers)])
    assert merged == functools.reduce(deep_merge, layers, {})


@settings(max_examples=60, deadline=None)
@given(mappings)
def test_merge_is_idempotent_and_has_identity(a: dict[str, Any]) -> None:
    assert deep_merge(a, a) == a
    assert deep_merge(a, {}) == a
    assert deep_merge({}, a) == a
