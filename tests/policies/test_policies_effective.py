"""Loading the effective config: layers, extends, fallbacks, caching, previews."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bot.errors import TransientError
from bot.policies.cache import ConfigCache
from bot.policies.decisions import PullRequestFacts, should_run_stage
from bot.policies.effective import (
    MAX_EXTENDS_DEPTH,
    build_effective,
    config_changes,
    defaults_config,
    load_effective_config,
    preview_config_change,
    resolver_for,
)
from bot.policies.source import LocalConfigSource
from bot.policies.validation import CONFIG_PATH, parse_config

REPO = ("acme/app", CONFIG_PATH)
ORG = ("acme/.github", CONFIG_PATH)


@dataclass
class Recording:
    """A LocalConfigSource that records every read (and can be told to fail)."""

    files: dict[tuple[str, str], bytes]
    reads: list[tuple[str, str, str | None]] = field(default_factory=list)
    fail: bool = False

    def default_branch(self, owner: str, repo: str) -> str:
        return "main"

    def read_file(self, owner: str, repo: str, path: str, ref: str | None = None):
        if self.fail:
            raise TransientError("GitHub is down")
        self.reads.append((f"{owner}/{repo}", path, ref))
        return LocalConfigSource({}, files=self.files, unknown_repos="absent").read_file(
            owner, repo, path, ref
        )


def _load(files: dict[tuple[str, str], bytes], cache: ConfigCache | None = None):
    return load_effective_config(Recording(files), "acme", "app", cache=cache)


def test_no_files_means_defaults() -> None:
    eff = _load({})
    assert eff.status == "ok"
    assert eff.layers == ("default",)
    assert eff.config == defaults_config().config
    assert all(source == "default" for _, _, source in eff.explain())


def test_precedence_default_org_extends_repo() -> None:
    eff = _load(
        {
            ORG: b"patches: {max_files: 11, max_lines: 111}\nignore: {labels: [wip]}\n",
            ("acme/policies", "base.yml"): b"patches: {max_lines: 222}\n",
            REPO: b"extends: [strict, acme/policies:base.yml]\npatches: {max_files: 3}\n",
        }
    )
    assert eff.status == "ok", eff.problems
    assert eff.layers == (
        "default",
        "org",
        "preset:recommended",
        "preset:strict",
        "acme/policies:base.yml",
        "repo",
    )
    patches = eff.config.patches
    assert (patches.max_files, eff.source_of("patches.max_files")) == (3, "repo")
    assert (patches.max_lines, eff.source_of("patches.max_lines")) == (222, "acme/policies:base.yml")
    assert eff.config.stages.review.fail_on == "warning"
    assert eff.source_of("stages.review.fail_on") == "preset:strict"
    # strict's ignore.labels is not set, recommended's list replaces the org's
    assert eff.config.ignore.labels == ["shunter:skip"]
    assert eff.source_of("ignore.labels") == "preset:recommended"
    assert eff.config.extends == ["strict", "acme/policies:base.yml"]
    assert eff.source_of("extends") == "repo"


def test_repo_file_is_read_from_the_default_branch() -> None:
    source = Recording({REPO: b"stages: {tests: {enabled: false}}\n"})
    eff = load_effective_config(source, "acme", "app", default_branch="trunk")
    assert ("acme/app", CONFIG_PATH, "trunk") in source.reads
    assert eff.default_branch == "trunk"


def test_pr_disabling_security_in_its_branch_does_not_stop_the_stage() -> None:
    """The PR head's config is never loaded; the default branch's decides."""
    files = {REPO: b"extends: [recommended]\n"}
    source = Recording(files)
    eff = load_effective_config(source, "acme", "app")
    assert all(ref in (None, "main") for _, _, ref in source.reads)
    pr = PullRequestFacts(author="mallory", changed_paths=[CONFIG_PATH, "app.py"])
    decision = should_run_stage(eff.config, "security", "synchronize", pr)
    assert decision.allowed
    # the PR's version only yields a preview that says what *would* change
    preview = preview_config_change(
        source, "acme", "app", b"stages: {security: {enabled: false}}\n", current=eff
    )
    assert preview.valid
    assert any(c.path == "stages.security.enabled" and c.new is False for c in preview.changes)
    assert should_run_stage(eff.config, "security", "synchronize", pr).allowed


def test_extends_cycle_is_reported_where_it_closes() -> None:
    eff = _load(
        {
            REPO: b"extends: [acme/p:a.yml]\n",
            ("acme/p", "a.yml"): b"extends: [acme/p:b.yml]\n",
            ("acme/p", "b.yml"): b"version: 1\nextends: [acme/p:a.yml]\n",
        }
    )
    assert eff.status == "invalid"
    [problem] = eff.problems
    assert (problem.file, problem.line, problem.column) == ("acme/p:b.yml", 2, 11)
    assert problem.message == (
        "extends cycle: acme/app:.github/shunter.yml -> acme/p:a.yml -> acme/p:b.yml -> acme/p:a.yml"
    )


def test_self_reference_is_a_cycle() -> None:
    eff = _load({REPO: b"extends: ['acme/app']\n"})
    assert eff.problems[0].message.startswith("extends cycle: acme/app:.github/shunter.yml")


def test_extends_deeper_than_five_is_an_error() -> None:
    files = {REPO: b"extends: [acme/p:l1.yml]\n"}
    for level in range(1, 8):
        files[("acme/p", f"l{level}.yml")] = f"extends: [acme/p:l{level + 1}.yml]\n".encode()
    files[("acme/p", "l8.yml")] = b"version: 1\n"
    eff = _load(files)
    assert eff.status == "invalid"
    [problem] = eff.problems
    assert problem.file == f"acme/p:l{MAX_EXTENDS_DEPTH}.yml"
    assert f"deeper than {MAX_EXTENDS_DEPTH} levels" in problem.message


def test_exactly_five_levels_is_fine() -> None:
    files = {REPO: b"extends: [acme/p:l1.yml]\n"}
    for level in range(1, MAX_EXTENDS_DEPTH):
        files[("acme/p", f"l{level}.yml")] = f"extends: [acme/p:l{level + 1}.yml]\n".encode()
    files[("acme/p", f"l{MAX_EXTENDS_DEPTH}.yml")] = b"patches: {max_files: 5}\n"
    eff = _load(files)
    assert eff.status == "ok", eff.problems
    assert eff.config.patches.max_files == 5


def test_missing_preset_and_missing_repo_file_are_located() -> None:
    eff = _load({REPO: b"extends:\n  - strictt\n  - acme/none\n"})
    messages = [(p.line, p.column, p.message) for p in eff.problems]
    assert messages[0][:2] == (2, 5)
    assert messages[0][2].startswith("extends 'strictt': there is no such preset (presets:")
    assert messages[1] == (
        3,
        5,
        "extends 'acme/none': acme/none:.github/shunter.yml does not exist or cannot be read",
    )


def test_invalid_extended_file_reports_its_own_problems() -> None:
    eff = _load({REPO: b"extends: [acme/p:x.yml]\n", ("acme/p", "x.yml"): b"stages: {revew: {}}\n"})
    files = [p.file for p in eff.problems]
    assert files == ["acme/p:x.yml", CONFIG_PATH]
    assert eff.problems[0].source == "acme/p:x.yml"


def test_bad_repo_config_falls_back_to_last_good() -> None:
    cache = ConfigCache()
    good = _load({REPO: b"patches: {max_files: 7}\n"}, cache)
    assert good.status == "ok"
    bad = _load({REPO: b"patches: {max_files: -1}\n"}, cache)
    assert bad.status == "invalid"
    assert bad.fallback == "last_good"
    assert bad.config.patches.max_files == 7
    assert bad.source_of("patches.max_files") == "repo"
    assert [(p.line, p.column) for p in bad.problems] == [(1, 22)]


def test_bad_repo_config_without_history_uses_defaults_plus_org() -> None:
    bad = _load({ORG: b"patches: {max_files: 9}\n", REPO: b"stages: [oops]\n"})
    assert (bad.status, bad.fallback) == ("invalid", "defaults")
    assert bad.config.patches.max_files == 9
    assert bad.layers == ("default", "org")


def test_unreadable_config_is_unavailable_not_a_crash() -> None:
    cache = ConfigCache()
    _load({REPO: b"patches: {max_files: 4}\n"}, cache)
    source = Recording({}, fail=True)
    eff = load_effective_config(source, "acme", "app", cache=cache)
    assert (eff.status, eff.fallback) == ("unavailable", "last_good")
    assert eff.config.patches.max_files == 4
    assert "GitHub is down" in eff.problems[0].message


def test_parses_are_cached_by_blob_sha() -> None:
    cache = ConfigCache()
    files = {REPO: b"extends: [strict]\n"}
    _load(files, cache)
    misses = cache.misses
    _load(files, cache)
    assert cache.misses == misses  # repo file, strict and recommended all hit
    files[REPO] = b"extends: [strict]\npatches: {max_files: 2}\n"
    eff = _load(files, cache)
    assert cache.misses == misses + 1
    assert eff.config.patches.max_files == 2


def test_org_repo_itself_has_no_org_layer() -> None:
    source = Recording({ORG: b"patches: {max_files: 9}\n"})
    eff = load_effective_config(source, "acme", ".github")
    assert eff.layers == ("default", "repo")


def test_build_effective_is_pure_over_a_resolver() -> None:
    repo = parse_config(b"extends: [security-only]\n")
    eff = build_effective(repo, None, resolver_for(LocalConfigSource({})))
    assert eff.config.stages.review.enabled is False
    assert eff.source_of("stages.review.enabled") == "preset:security-only"


def test_config_changes_lists_only_differences() -> None:
    base = defaults_config()
    other = build_effective(parse_config(b"stages: {review: {fail_on: never}}\n"), None, lambda ref: None)
    [change] = config_changes(base, other)
    assert (change.path, change.old, change.new, change.new_source) == (
        "stages.review.fail_on",
        "error",
        "never",
        "repo",
    )


def test_preview_of_an_invalid_proposal_keeps_annotations() -> None:
    source = Recording({})
    current = load_effective_config(source, "acme", "app")
    preview = preview_config_change(
        source, "acme", "app", b"stages:\n  review:\n    fail_on: sometimes\n", current=current
    )
    assert not preview.valid
    assert preview.changes == ()
    assert [(p.line, p.column) for p in preview.proposed.problems] == [(3, 14)]


@pytest.mark.parametrize("proposed", [None, b""])
def test_preview_of_deleting_the_file(proposed: bytes | None) -> None:
    source = Recording({REPO: b"stages: {tests: {enabled: false}}\n"})
    current = load_effective_config(source, "acme", "app")
    preview = preview_config_change(source, "acme", "app", proposed, current=current)
    assert [c.path for c in preview.changes] == ["stages.tests.enabled"]
