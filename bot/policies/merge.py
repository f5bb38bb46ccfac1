"""Merging config layers, and remembering where every value came from.

Rules (the README's configuration reference repeats them):

- layers apply lowest first: built-in defaults < organisation (``<owner>/.github``) <
  each ``extends`` entry in order < the repository's own file;
- mappings merge key by key, recursively; everything else — scalars, ``null`` and lists —
  replaces what was below (so ``paths.include: [src/**]`` is the whole list, not an
  addition to the default ``['**']``);
- provenance records, for every leaf (a scalar, a null or a whole list), the label of the
  layer that set it last: ``default``, ``org``, ``preset:NAME``, ``owner/repo:path`` or
  ``repo``.

All functions here are pure: data in, data out.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LeafPath = tuple[str, ...]


@dataclass(frozen=True)
class Layer:
    """One source's settings (only the keys it sets) and its provenance label."""

    source: str
    data: Mapping[str, Any]


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``: mappings merge, anything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = deep_merge(below, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def leaves(data: Mapping[str, Any], prefix: LeafPath = ()) -> dict[LeafPath, Any]:
    """Every leaf of a nested mapping (an empty mapping sets nothing, so it has none)."""
    out: dict[LeafPath, Any] = {}
    for key, value in data.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping):
            out.update(leaves(value, path))
        else:
            out[path] = value
    return out


def merge_layers(layers: Sequence[Layer]) -> tuple[dict[str, Any], dict[LeafPath, str]]:
    """The merged mapping and, for each leaf path, the label of the layer that set it."""
    merged: dict[str, Any] = {}
    provenance: dict[LeafPath, str] = {}
    for layer in layers:
        for path in _overridden(merged, layer.data):
            for known in [p for p in provenance if p[: len(path)] == path]:
                del provenance[known]
        merged = deep_merge(merged, layer.data)
        for path in leaves(layer.data):
            provenance[path] = layer.source
    return merged, provenance


def _overridden(below: Mapping[str, Any], above: Mapping[str, Any], prefix: LeafPath = ()) -> list[LeafPath]:
    """Paths where ``above`` replaces (rather than merges into) what ``below`` holds."""
    out: list[LeafPath] = []
    for key, value in above.items():
        path = (*prefix, str(key))
        old = below.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            out.extend(_overridden(old, value, path))
        elif key in below:
            out.append(path)
    return out


def source_of(provenance: Mapping[LeafPath, str], path: LeafPath) -> str:
    """Who set ``path``: its own entry, else its nearest recorded ancestor, else default.

    Values nobody wrote (a model's defaults filled in under a mapping a layer introduced,
    like ``llm.provider`` when a file sets only ``llm.model``) are ``default``.
    """
    probe = path
    while probe:
        if probe in provenance:
            return provenance[probe]
        probe = probe[:-1]
    return "default"
