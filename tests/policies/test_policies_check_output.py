"""The shunter/config check run: valid, invalid (annotations at line/col), PR preview."""

from __future__ import annotations

import json

from bot.policies.cache import ConfigCache
from bot.policies.check_output import CHECK_NAME, config_check_output
from bot.policies.effective import load_effective_config, preview_config_change
from bot.policies.source import LocalConfigSource
from bot.policies.validation import CONFIG_PATH

REPO = ("acme/app", CONFIG_PATH)


def _source(files: dict[tuple[str, str], bytes]) -> LocalConfigSource:
    return LocalConfigSource({}, files=files, unknown_repos="absent")


def test_valid_config() -> None:
    eff = load_effective_config(_source({REPO: b"extends: [recommended]\n"}), "acme", "app")
    out = config_check_output(eff)
    assert (out.name, out.conclusion, out.title) == (CHECK_NAME, "success", "Config is valid")
    assert "`default` < `preset:recommended` < `repo`" in out.summary
    assert "(`main`)" in out.summary
    assert out.annotations == ()


def test_no_config_file() -> None:
    out = config_check_output(load_effective_config(_source({}), "acme", "app"))
    assert (out.conclusion, out.title) == ("success", f"No {CONFIG_PATH}: using defaults")


def test_invalid_config_annotates_each_problem_and_says_what_is_used() -> None:
    text = b"stages:\n  reviw: {}\n  tests:\n    fail_on: sometimes\n"
    eff = load_effective_config(_source({REPO: text}), "acme", "app")
    out = config_check_output(eff)
    assert out.conclusion == "failure"
    assert out.title == f"{CONFIG_PATH} has 2 problems"
    assert [(a["start_line"], a["start_column"]) for a in out.annotations] == [(2, 3), (4, 14)]
    first = out.annotations[0]
    assert first == {
        "path": CONFIG_PATH,
        "start_line": 2,
        "end_line": 2,
        "start_column": 3,
        "end_column": 3,
        "annotation_level": "failure",
        "title": "Invalid Shunter config",
        "message": "unknown key 'reviw' in stages; did you mean 'review'?",
    }
    assert "built-in defaults until this is fixed" in out.summary
    assert out.output()["annotations"] == list(out.annotations)


def test_invalid_config_with_a_last_good_one() -> None:
    cache = ConfigCache()
    load_effective_config(_source({REPO: b"patches: {max_files: 3}\n"}), "acme", "app", cache=cache)
    eff = load_effective_config(_source({REPO: b"patches: {max_files: x}\n"}), "acme", "app", cache=cache)
    out = config_check_output(eff)
    assert out.conclusion == "failure"
    assert "keeps using the last good configuration" in out.summary
    assert len(out.annotations) == 1


def test_problems_in_other_files_are_listed_not_annotated() -> None:
    files = {REPO: b"extends: [acme/p:x.yml]\n", ("acme/p", "x.yml"): b"bogus: 1\n"}
    out = config_check_output(load_effective_config(_source(files), "acme", "app"))
    assert [a["start_line"] for a in out.annotations] == [1]
    assert "`acme/p:x.yml:1:1` (acme/p:x.yml): unknown key 'bogus'" in out.summary


def test_pr_changing_the_config_gets_a_preview_that_does_not_apply() -> None:
    source = _source({REPO: b"extends: [recommended]\n"})
    current = load_effective_config(source, "acme", "app")
    preview = preview_config_change(
        source,
        "acme",
        "app",
        b"extends: [recommended]\nstages:\n  security:\n    enabled: false\n",
        current=current,
    )
    out = config_check_output(current, preview=preview)
    assert out.conclusion == "success"
    assert out.title == "Proposed config is valid: 1 setting would change"
    assert "does not take effect for this pull request" in out.summary
    assert "| `stages.security.enabled` | `true` | `false` | repo |" in out.summary


def test_pr_with_an_invalid_config_fails_with_annotations() -> None:
    source = _source({})
    current = load_effective_config(source, "acme", "app")
    preview = preview_config_change(
        source, "acme", "app", b"stages:\n  security:\n    enabled: nah\n", current=current
    )
    out = config_check_output(current, preview=preview)
    assert out.conclusion == "failure"
    assert [(a["start_line"], a["start_column"]) for a in out.annotations] == [(3, 14)]
    assert "does not take effect for this pull request" in out.summary


def test_unchanged_proposal() -> None:
    source = _source({REPO: b"extends: [strict]\n"})
    current = load_effective_config(source, "acme", "app")
    preview = preview_config_change(
        source, "acme", "app", b"# reformatted\nextends:\n  - strict\n", current=current
    )
    out = config_check_output(current, preview=preview)
    assert out.title == "Proposed config is valid: the effective config does not change"


def test_explain_markdown_lists_non_defaults_with_sources() -> None:
    from bot.policies.explain import explain_markdown

    files = {
        REPO: b"extends: [security-only]\npatches: {max_files: 3}\n",
        ("acme/.github", CONFIG_PATH): b"ignore: {labels: [wip]}\n",
    }
    text = explain_markdown(load_effective_config(_source(files), "acme", "app"))
    assert "Layers, lowest first: `default` < `org` < `preset:security-only` < `repo`" in text
    assert "| `patches.max_files` | `3` | repo |" in text
    assert '| `ignore.labels` | `["wip"]` | org |' in text
    assert "| `stages.review.enabled` | `false` | preset:security-only |" in text
    assert "stages.review.ruff" not in text  # defaults are left out


def test_explain_markdown_of_a_broken_config() -> None:
    from bot.policies.explain import explain_markdown

    text = explain_markdown(load_effective_config(_source({REPO: b"bogus: 1\n"}), "acme", "app"))
    assert "**This config has problems.**" in text
    assert "`.github/shunter.yml:1:1`: unknown key 'bogus'" in text


def test_a_problem_quoting_the_file_renders_as_text() -> None:
    """"unknown key '<details>...'" put the key raw in the check run's list of problems: the
    ``<details>`` folded away the rest of the summary and ``[a](https://e.co)`` was a link."""
    from markdown_it import MarkdownIt

    text = b'"<details>[a](https://e.co) #12": 1\n'
    out = config_check_output(load_effective_config(_source({REPO: text}), "acme", "app"))
    tokens = MarkdownIt("commonmark").parse(out.summary)
    inline = [c for t in tokens if t.type == "inline" for c in t.children or []]
    assert not [t for t in tokens + inline if t.type in ("html_block", "html_inline", "link_open")], out.summary
    [line] = [t.content for t in tokens if t.type == "inline" and "unknown key" in t.content]
    assert "unknown key '&lt;details&gt;\\[a\\](https://e.co) #\u206012'" in line, line


def test_schedule_in_on_is_a_warning_at_its_line_not_a_failure() -> None:
    """`schedule` validates, but nothing runs stages on a schedule: the check says so, at
    the line, so a maintainer does not wait for runs that never come."""
    text = b"version: 1\nstages:\n  security:\n    on:\n      - opened\n      - schedule\n  tests:\n    on: [schedule]\n"
    eff = load_effective_config(_source({REPO: text}), "acme", "app")
    assert eff.status == "ok" and eff.problems == ()
    out = config_check_output(eff)
    assert (out.conclusion, out.title) == ("success", "Config is valid, with 2 warnings")
    assert [(a["start_line"], a["annotation_level"]) for a in out.annotations] == [(6, "warning"), (8, "warning")]
    assert out.annotations[0]["message"] == (
        "stages.security.on: `schedule` is accepted but Shunter does not run stages on a schedule yet; remove it"
    )
    assert f"`{CONFIG_PATH}:8:" in out.summary and "stages.tests.on" in out.summary
    # a pull request that adds it is told so in the preview too
    preview = preview_config_change(
        _source({}), "acme", "app", text, current=load_effective_config(_source({}), "acme", "app")
    )
    shown = config_check_output(load_effective_config(_source({}), "acme", "app"), preview=preview)
    assert shown.conclusion == "success" and shown.title.endswith("with 2 warnings")
    assert [a["start_line"] for a in shown.annotations] == [6, 8]
    # without it, nothing is said
    plain = load_effective_config(_source({REPO: b"stages:\n  tests:\n    on: [opened]\n"}), "acme", "app")
    assert plain.warnings == () and config_check_output(plain).annotations == ()


def test_warnings_survive_the_parsed_cache_and_an_older_entry_is_parsed_again() -> None:
    text = b"stages:\n  review:\n    on: [opened, schedule]\n"
    shared: dict[str, str] = {}

    class Store:  # what workers share (Redis), as a dict
        def get(self, key: str) -> str | None:
            return shared.get(key)

        def set(self, key: str, value: str, ex: int | None = None) -> None:
            shared[key] = value

    first = load_effective_config(_source({REPO: text}), "acme", "app", cache=ConfigCache(Store()))
    cache = ConfigCache(Store())
    again = load_effective_config(_source({REPO: text}), "acme", "app", cache=cache)
    assert cache.hits >= 1 and first.warnings == again.warnings and [w.line for w in again.warnings] == [3]
    # an entry an older Shunter parsed (no warnings looked for) is not taken as "none"
    for key, value in shared.items():
        if ":blob:" in key:
            shared[key] = json.dumps({k: v for k, v in json.loads(value).items() if k != "warnings"})
    older = load_effective_config(_source({REPO: text}), "acme", "app", cache=ConfigCache(Store()))
    assert [w.line for w in older.warnings] == [3]
