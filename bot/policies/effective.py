"""The effective config of a repository: layers resolved, merged, explained.

The pure core is :func:`build_effective`: given the repository's parsed file, the
organisation's and a function that resolves an ``extends`` reference, it expands
``extends`` (cycles and nesting deeper than :data:`MAX_EXTENDS_DEPTH` are problems), merges
the layers (``bot.policies.merge``) and validates the result. :func:`load_effective_config`
is the shell around it: it reads the files through a ``ConfigSource`` — the repository's
file always from the **default branch**, so a pull request can never change the policy
that judges it — caches parse results by blob SHA and falls back to the last good config
(or the defaults) when the current one is broken, saying so in ``problems``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from bot.errors import ConfigError, ShunterError
from bot.policies.cache import ConfigCache
from bot.policies.merge import Layer, LeafPath, leaves, merge_layers, source_of
from bot.policies.presets import preset_names, preset_path
from bot.policies.schema import PRESET_NAME, REPO_REF, ShunterConfig
from bot.policies.source import ConfigSource
from bot.policies.validation import (
    CONFIG_PATH,
    ConfigProblem,
    ParsedConfig,
    git_blob_sha,
    parse_config,
)

ORG_CONFIG_REPO = ".github"
MAX_EXTENDS_DEPTH = 5
MAX_EXTENDS_TOTAL = 20
Status = Literal["ok", "invalid", "unavailable"]
Fallback = Literal["none", "last_good", "defaults"]


def _defaults() -> dict[str, Any]:
    return ShunterConfig().model_dump(mode="json")


@dataclass(frozen=True)
class EffectiveConfig:
    """The config Shunter acts on for one repository, and how it came to be."""

    config: ShunterConfig
    provenance: dict[LeafPath, str]
    problems: tuple[ConfigProblem, ...] = ()
    layers: tuple[str, ...] = ("default",)
    """Labels of the layers merged, lowest first."""
    status: Status = "ok"
    """ok; invalid (some file has problems); unavailable (the files could not be read)."""
    fallback: Fallback = "none"
    """What is used instead when status is not ok: the last good config, or the defaults."""
    repo_file_sha: str | None = None
    default_branch: str | None = None
    warnings: tuple[ConfigProblem, ...] = ()
    """Valid settings of the repository's and organisation's files that would mislead
    (``schedule`` in a stage's ``on``): the config check says so without failing."""

    def source_of(self, path: str | LeafPath) -> str:
        parts = tuple(path.split(".")) if isinstance(path, str) else path
        return source_of(self.provenance, parts)

    def explain(self) -> list[tuple[str, Any, str]]:
        """Every setting as ``(dotted path, value, source)``, in schema order."""
        return [
            (".".join(path), value, self.source_of(path))
            for path, value in leaves(self.config.model_dump(mode="json")).items()
        ]

    def snapshot(self) -> dict[str, Any]:
        """JSON for the last-good cache."""
        return {
            "data": self.config.model_dump(mode="json"),
            "provenance": {".".join(k): v for k, v in self.provenance.items()},
            "layers": list(self.layers),
            "repo_file_sha": self.repo_file_sha,
            "default_branch": self.default_branch,
        }

    @classmethod
    def from_snapshot(cls, raw: Mapping[str, Any], **changes: Any) -> EffectiveConfig:
        return cls(
            config=ShunterConfig.model_validate(raw["data"]),
            provenance={tuple(k.split(".")): v for k, v in raw["provenance"].items()},
            layers=tuple(raw["layers"]),
            repo_file_sha=raw.get("repo_file_sha"),
            default_branch=raw.get("default_branch"),
            **changes,
        )


def defaults_config() -> EffectiveConfig:
    """Built-in defaults only: what a repository without any config file gets."""
    merged, provenance = merge_layers([Layer("default", _defaults())])
    return EffectiveConfig(ShunterConfig.model_validate(merged), provenance)


# -- the pure core --------------------------------------------------------------------------

Resolver = Callable[[str], ParsedConfig | None]
"""Resolves one ``extends`` reference to its parsed file; None when it does not exist.
May raise ``ShunterError`` (e.g. GitHub unreachable): that becomes a problem."""


def ref_label(ref: str) -> str:
    """The provenance label of an ``extends`` reference."""
    if PRESET_NAME.match(ref):
        return f"preset:{ref}"
    match = REPO_REF.match(ref)
    if match is None:
        return ref
    path = match.group("path") or CONFIG_PATH
    return f"{match.group('owner')}/{match.group('repo')}:{path}"


@dataclass
class _Expansion:
    resolve: Resolver
    layers: list[Layer] = field(default_factory=list)
    problems: list[ConfigProblem] = field(default_factory=list)
    reads: int = 0

    def expand(self, parsed: ParsedConfig, chain: tuple[str, ...]) -> None:
        """Append ``parsed``'s extends (lowest first), then ``parsed`` itself."""
        data = dict(parsed.data or {})
        refs = list(data.pop("extends", []))
        for index, ref in enumerate(refs):
            line, column = parsed.extends_at[index] if index < len(parsed.extends_at) else (1, 1)

            def problem(message: str, line: int = line, column: int = column) -> None:
                self.problems.append(ConfigProblem(parsed.file, line, column, message, parsed.source))

            label = ref_label(ref)
            if label.lower() in (c.lower() for c in chain):
                problem(f"extends cycle: {' -> '.join((*chain, label))}")
                continue
            if len(chain) > MAX_EXTENDS_DEPTH:
                problem(
                    f"extends nests deeper than {MAX_EXTENDS_DEPTH} levels: {' -> '.join((*chain, label))}"
                )
                continue
            self.reads += 1
            if self.reads > MAX_EXTENDS_TOTAL:
                problem(f"more than {MAX_EXTENDS_TOTAL} extends references in total")
                continue
            try:
                target = self.resolve(ref)
            except ShunterError as exc:
                problem(f"cannot read extends '{ref}': {exc}")
                continue
            if target is None:
                if PRESET_NAME.match(ref):
                    problem(
                        f"extends '{ref}': there is no such preset"
                        f" (presets: {', '.join(_safe_preset_names())})"
                    )
                else:
                    problem(f"extends '{ref}': {label} does not exist or cannot be read")
                continue
            if not target.ok:
                self.problems.extend(target.problems)
                problem(f"extends '{ref}': {target.file} is invalid (see its problems)")
                continue
            self.expand(target, (*chain, label))
        self.layers.append(Layer(parsed.source, data))


def _safe_preset_names() -> list[str]:
    try:
        return preset_names()
    except ShunterError:
        return []


def build_effective(
    repo: ParsedConfig | None,
    org: ParsedConfig | None,
    resolve: Resolver,
    *,
    repo_label: str = "repo",
    org_label: str = "org",
) -> EffectiveConfig:
    """Defaults < org (after its own extends) < repo's extends < repo, merged and checked.

    ``repo_label``/``org_label`` name those files in cycle messages (``owner/repo:path``).
    The result has status ``invalid`` when any file in the chain has problems; the caller
    decides what to fall back to.
    """
    expansion = _Expansion(resolve)
    expansion.layers.append(Layer("default", _defaults()))
    for parsed, label in ((org, org_label), (repo, repo_label)):
        if parsed is None:
            continue
        if not parsed.ok:
            expansion.problems.extend(parsed.problems)
            continue
        expansion.expand(parsed, (label,))
    merged, provenance = merge_layers(expansion.layers)
    applied = [
        ref
        for parsed in (org, repo)
        if parsed is not None and parsed.ok
        for ref in (parsed.data or {}).get("extends", [])
    ]
    merged["extends"] = applied
    declared_by = [
        label
        for parsed, label in ((org, "org"), (repo, "repo"))
        if parsed is not None and parsed.ok and parsed.extends
    ]
    if declared_by:
        provenance[("extends",)] = declared_by[-1]
    problems = list(expansion.problems)
    try:
        config = ShunterConfig.model_validate(merged)
    except ValidationError as exc:  # layers valid alone but not together
        for error in exc.errors(include_url=False):
            where = ".".join(str(p) for p in error["loc"])
            problems.append(
                ConfigProblem(CONFIG_PATH, 1, 1, f"merged config: {where}: {error['msg']}", "merged")
            )
        config = ShunterConfig()
    return EffectiveConfig(
        config=config,
        provenance=provenance,
        problems=tuple(problems),
        layers=tuple(layer.source for layer in expansion.layers),
        status="invalid" if problems else "ok",
        repo_file_sha=repo.blob_sha if repo is not None else None,
        warnings=tuple(
            w for parsed in (org, repo) if parsed is not None and parsed.ok for w in parsed.warnings
        ),
    )


# -- the shell ------------------------------------------------------------------------------


_SHIPPED = ConfigCache(max_entries=64)
"""Parsed presets of this install, by blob SHA (they are read on every load)."""


class _Reader:
    """Reads and parses files through a source and the cache (the I/O of one load)."""

    def __init__(self, source: ConfigSource, cache: ConfigCache | None) -> None:
        self.source = source
        self.cache = cache

    def parse(self, content: bytes, sha: str, *, file: str, source: str) -> ParsedConfig:
        if self.cache is not None:
            hit = self.cache.parsed(file, sha, source=source)
            if hit is not None:
                return hit
        parsed = parse_config(content, file=file, source=source, blob_sha=sha)
        if self.cache is not None:
            self.cache.remember_parsed(parsed)
        return parsed

    def repo_file(
        self, owner: str, repo: str, path: str, ref: str | None, *, source: str
    ) -> ParsedConfig | None:
        shown = path if source == "repo" else f"{owner}/{repo}:{path}"
        try:
            found = self.source.read_file(owner, repo, path, ref)
        except ConfigError as exc:  # there, but not a usable file (too large, a directory)
            problem = ConfigProblem(shown, 1, 1, exc.message, source)
            return ParsedConfig(shown, source, "", None, (problem,))
        if found is None:
            return None
        content, sha = found
        return self.parse(content, sha, file=shown, source=source)

    def resolve(self, ref: str) -> ParsedConfig | None:
        if PRESET_NAME.match(ref):
            preset = preset_path(ref)
            if preset is None:
                return None
            content = preset.read_bytes()
            sha = git_blob_sha(content)
            file, label = f"policies/{ref}.yml", f"preset:{ref}"
            hit = _SHIPPED.parsed(file, sha, source=label)
            if hit is None:
                hit = parse_config(content, file=file, source=label, blob_sha=sha)
                _SHIPPED.remember_parsed(hit)
            return hit
        match = REPO_REF.match(ref)
        if match is None:
            return None
        label = ref_label(ref)
        path = match.group("path") or CONFIG_PATH
        return self.repo_file(match.group("owner"), match.group("repo"), path, None, source=label)


def resolver_for(source: ConfigSource, cache: ConfigCache | None = None) -> Resolver:
    """Resolves ``extends`` references: presets from this install, repos through ``source``."""
    return _Reader(source, cache).resolve


def load_effective_config(
    source: ConfigSource,
    owner: str,
    repo: str,
    *,
    cache: ConfigCache | None = None,
    default_branch: str | None = None,
) -> EffectiveConfig:
    """The config Shunter should act on for ``owner/repo``; never raises for bad config.

    ``default_branch`` saves a request when the webhook payload already names it. The
    repository's file is read at that branch, never at a pull request's head. When any
    file in the chain is invalid, or cannot be read, the result carries the problems and
    uses the last good config of this repository (``fallback="last_good"``) or else the
    defaults plus a valid organisation config (``fallback="defaults"``).
    """
    reader = _Reader(source, cache)
    self_label = f"{owner}/{repo}:{CONFIG_PATH}"
    try:
        branch = default_branch or source.default_branch(owner, repo)
        repo_parsed = reader.repo_file(owner, repo, CONFIG_PATH, branch, source="repo")
        org_parsed = _read_org(reader, owner, repo)
    except ShunterError as exc:
        problem = ConfigProblem(CONFIG_PATH, 1, 1, f"cannot read the config: {exc}", "repo")
        return _fall_back(cache, owner, repo, reader, None, (problem,), "unavailable", None)
    effective = build_effective(
        repo_parsed,
        org_parsed,
        reader.resolve,
        repo_label=self_label,
        org_label=f"{owner}/{ORG_CONFIG_REPO}:{CONFIG_PATH}",
    )
    effective = _with(effective, default_branch=branch)
    if effective.status == "ok":
        if cache is not None:
            cache.remember_good(owner, repo, effective.snapshot())
        return effective
    return _fall_back(
        cache,
        owner,
        repo,
        reader,
        org_parsed,
        effective.problems,
        "invalid",
        branch,
        repo_file_sha=effective.repo_file_sha,
    )


def _read_org(reader: _Reader, owner: str, repo: str) -> ParsedConfig | None:
    if repo.lower() == ORG_CONFIG_REPO:
        return None  # the org's own .github repo: its file is the repo layer
    return reader.repo_file(owner, ORG_CONFIG_REPO, CONFIG_PATH, None, source="org")


def _with(effective: EffectiveConfig, **changes: Any) -> EffectiveConfig:
    values = {name: getattr(effective, name) for name in effective.__dataclass_fields__}
    values.update(changes)
    return EffectiveConfig(**values)


def _fall_back(
    cache: ConfigCache | None,
    owner: str,
    repo: str,
    reader: _Reader,
    org: ParsedConfig | None,
    problems: tuple[ConfigProblem, ...],
    status: Status,
    branch: str | None,
    *,
    repo_file_sha: str | None = None,
) -> EffectiveConfig:
    good = cache.last_good(owner, repo) if cache is not None else None
    if good is not None:
        try:
            return EffectiveConfig.from_snapshot(good, problems=problems, status=status, fallback="last_good")
        except (ValidationError, KeyError, TypeError, AttributeError):
            pass  # a snapshot this version cannot read: fall through to the defaults
    base = defaults_config()
    if org is not None and org.ok:
        with_org = build_effective(None, org, reader.resolve)
        if with_org.status == "ok":
            base = with_org
    return _with(
        base,
        problems=problems,
        status=status,
        fallback="defaults",
        default_branch=branch,
        repo_file_sha=repo_file_sha,
    )


# -- a pull request that changes the config -------------------------------------------------


@dataclass(frozen=True)
class ConfigChange:
    path: str
    old: Any
    new: Any
    new_source: str


@dataclass(frozen=True)
class ConfigPreview:
    """What a PR's version of ``.github/shunter.yml`` would do once merged."""

    proposed: EffectiveConfig
    changes: tuple[ConfigChange, ...]

    @property
    def valid(self) -> bool:
        return self.proposed.status == "ok"


def config_changes(old: EffectiveConfig, new: EffectiveConfig) -> tuple[ConfigChange, ...]:
    """Settings whose value differs between two effective configs (lists compared whole)."""
    before = leaves(old.config.model_dump(mode="json"))
    after = leaves(new.config.model_dump(mode="json"))
    changes = []
    for path in sorted(set(before) | set(after)):
        if before.get(path) != after.get(path) or (path in before) != (path in after):
            changes.append(
                ConfigChange(".".join(path), before.get(path), after.get(path), new.source_of(path))
            )
    return tuple(changes)


def preview_config_change(
    source: ConfigSource,
    owner: str,
    repo: str,
    proposed: bytes | None,
    *,
    current: EffectiveConfig,
    cache: ConfigCache | None = None,
) -> ConfigPreview:
    """Validate a PR's version of the config (``None``: the PR deletes it) and diff the
    effective config it would produce against ``current``. Nothing here changes what
    Shunter uses for the PR: callers keep using ``current``."""
    reader = _Reader(source, cache)
    parsed = parse_config(proposed, file=CONFIG_PATH, source="repo") if proposed is not None else None
    try:
        org = _read_org(reader, owner, repo)
    except ShunterError as exc:
        problem = ConfigProblem(CONFIG_PATH, 1, 1, f"cannot read the org config: {exc}", "org")
        broken = _with(defaults_config(), problems=(problem,), status="unavailable")
        return ConfigPreview(broken, ())
    new = build_effective(
        parsed,
        org,
        reader.resolve,
        repo_label=f"{owner}/{repo}:{CONFIG_PATH}",
        org_label=f"{owner}/{ORG_CONFIG_REPO}:{CONFIG_PATH}",
    )
    changes = config_changes(current, new) if new.status == "ok" else ()
    return ConfigPreview(new, changes)
