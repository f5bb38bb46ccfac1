"""config_for_pull_request: the default branch decides; the PR's version is only previewed."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.errors import TransientError
from bot.policies.decisions import PullRequestFacts, should_run_stage
from bot.policies.pr_config import config_for_pull_request, touches_config
from bot.policies.validation import CONFIG_PATH, git_blob_sha

MAIN = b"extends: [recommended]\n"
WEAKENED = b"extends: [recommended]\nstages:\n  security:\n    enabled: false\n"


@dataclass
class Branches:
    """Files per (repo, ref); ref None means the default branch 'main'."""

    files: dict[tuple[str, str, str], bytes]
    reads: list[tuple[str, str | None]] = field(default_factory=list)
    fail_on_ref: str | None = None

    def default_branch(self, owner: str, repo: str) -> str:
        return "main"

    def read_file(self, owner: str, repo: str, path: str, ref: str | None = None):
        self.reads.append((f"{owner}/{repo}", ref))
        if ref is not None and ref == self.fail_on_ref:
            raise TransientError("timeout")
        content = self.files.get((f"{owner}/{repo}", path, ref or "main"))
        return None if content is None else (content, git_blob_sha(content))


def test_touches_config() -> None:
    assert touches_config(["a.py", CONFIG_PATH])
    assert not touches_config([".github/shunter.yaml", "a.py"])


def test_pr_not_touching_config_gets_the_plain_check() -> None:
    source = Branches({("acme/app", CONFIG_PATH, "main"): MAIN})
    result = config_for_pull_request(source, "acme", "app", head_sha="abc", changed_paths=["a.py"])
    assert result.preview is None
    assert result.check.title == "Config is valid"
    assert all(ref in (None, "main") for _, ref in source.reads)


def test_pr_disabling_security_still_gets_the_security_stage() -> None:
    source = Branches(
        {
            ("acme/app", CONFIG_PATH, "main"): MAIN,
            ("acme/app", CONFIG_PATH, "headsha"): WEAKENED,
        }
    )
    result = config_for_pull_request(source, "acme", "app", head_sha="headsha", changed_paths=[CONFIG_PATH])
    assert result.effective.config.stages.security.enabled is True
    facts = PullRequestFacts(author="mallory", changed_paths=[CONFIG_PATH])
    assert should_run_stage(result.effective.config, "security", "synchronize", facts).allowed
    assert result.preview is not None and result.preview.valid
    assert result.preview.proposed.config.stages.security.enabled is False
    assert result.check.conclusion == "success"
    assert "does not take effect for this pull request" in result.check.summary


def test_fork_head_is_read_from_the_fork() -> None:
    source = Branches(
        {
            ("acme/app", CONFIG_PATH, "main"): MAIN,
            ("mallory/app", CONFIG_PATH, "forksha"): b"stages: {tests: {enabled: nah}}\n",
        }
    )
    result = config_for_pull_request(
        source,
        "acme",
        "app",
        head_sha="forksha",
        changed_paths=[CONFIG_PATH],
        head_owner="mallory",
        head_repo="app",
    )
    assert result.check.conclusion == "failure"
    assert [(a["start_line"], a["start_column"]) for a in result.check.annotations] == [(1, 27)]
    assert result.effective.status == "ok"


def test_unreadable_head_version_is_reported_not_raised() -> None:
    source = Branches({("acme/app", CONFIG_PATH, "main"): MAIN}, fail_on_ref="h")
    result = config_for_pull_request(source, "acme", "app", head_sha="h", changed_paths=[CONFIG_PATH])
    assert result.check.conclusion == "failure"
    assert "cannot read this pull request's version: timeout" in result.check.summary
    assert result.effective.status == "ok"


def test_pr_deleting_the_config_previews_the_defaults() -> None:
    source = Branches({("acme/app", CONFIG_PATH, "main"): b"stages: {tests: {enabled: false}}\n"})
    result = config_for_pull_request(source, "acme", "app", head_sha="h", changed_paths=[CONFIG_PATH])
    assert result.preview is not None
    assert [c.path for c in result.preview.changes] == ["stages.tests.enabled"]
    assert result.effective.config.stages.tests.enabled is False
