"""Branch protection and rulesets on the simulator's branches: GitHub's refusals, in its words.

GitHub checks a branch's rules whenever the branch moves, over git and through the REST API
alike, and a client meets them in two shapes:

- ``git push``: ``remote:`` lines, then ``[remote rejected]``. Branch protection says
  ``error: GH006: Protected branch update failed for refs/heads/<b>.``; a ruleset says
  ``error: GH013: Repository rule violations found for refs/heads/<b>.`` and where to review
  the rules. Each broken rule follows as ``- <sentence>`` (a ruleset lists the unsigned
  commits under its signature rule). The simulator's refusal comes from a pre-receive hook,
  so git's own status line says ``(pre-receive hook declined)`` where GitHub's says
  ``(protected branch hook declined)`` or ``(push declined due to repository rule
  violations)``.
- ``PATCH /git/refs``: 422 with the sentence for branch protection, 409 ``Repository rule
  violations found`` with the sentences for a ruleset.

Three rules are enforced (a branch has none unless a test sets them with
``Simulator.protect_branch``):

- **required signatures**: every commit the update brings must be signed. GitHub signs the
  commits it makes through the Git Data API for the caller (no author or committer of the
  caller's own); a commit pushed over git counts as signed when it carries a ``gpgsig``
  header (the key is not checked).
- **restricted pushers**: only the actors named (people by login, Apps by slug) may move the
  branch.
- **required status checks**: each named check run must have succeeded on the new head.

Only the standard library is imported: the pre-receive hook runs this file by path
(``python branch_rules.py``) without importing Shunter's packages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote

PROTECTION_DOCS = "https://docs.github.com/articles/about-protected-branches"
RULES_DOCS = "https://docs.github.com/rest/git/refs#update-a-reference"
NOT_AUTHORIZED = (
    "You're not authorized to push to this branch. Visit https://docs.github.com/repositories/"
    "configuring-branches-and-merges-in-your-repository/managing-protected-branches/"
    "about-protected-branches for more information."
)
RULESET_RESTRICTED = "Cannot update this protected ref."
UNSIGNED = "Commits must have verified signatures."


@dataclass(frozen=True)
class BranchRules:
    """What GitHub requires of every update of one branch."""

    required_signatures: bool = False
    push_allowances: tuple[str, ...] | None = None
    """Who may push (logins, App slugs); None: anyone with write access."""
    required_checks: tuple[str, ...] = ()
    """Check run names that must have succeeded on the new head."""
    ruleset: bool = False
    """Worded as a ruleset (GH013, 409) rather than classic branch protection (GH006, 422)."""

    def may_push(self, actors: Iterable[str]) -> bool:
        if self.push_allowances is None:
            return True
        allowed = {a.casefold() for a in self.push_allowances}
        return any(actor.casefold() in allowed for actor in actors)


@dataclass(frozen=True)
class Violation:
    """One broken rule: GitHub's sentence, and the commits it names (unsigned ones)."""

    sentence: str
    commits: tuple[str, ...] = ()


def violations(
    rules: BranchRules, *, may_push: bool, unsigned: list[str], succeeded: set[str]
) -> list[Violation]:
    """The rules an update breaks, in the order GitHub lists them."""
    found: list[Violation] = []
    if not may_push:
        found.append(Violation(RULESET_RESTRICTED if rules.ruleset else NOT_AUTHORIZED))
    if rules.required_signatures and unsigned:
        found.append(Violation(UNSIGNED, tuple(unsigned)))
    missing = [name for name in rules.required_checks if name not in succeeded]
    if len(missing) == 1 and len(rules.required_checks) == 1:
        found.append(Violation(f'Required status check "{missing[0]}" is expected.'))
    elif missing:
        found.append(
            Violation(f"{len(missing)} of {len(rules.required_checks)} required status checks are expected.")
        )
    return found


def git_refusal(
    rules: BranchRules, ref: str, found: list[Violation], rules_url: str
) -> list[str]:
    """The lines receive-pack prints (git adds ``remote: ``) when an update breaks rules."""
    if rules.ruleset:
        lines = [
            f"error: GH013: Repository rule violations found for {ref}.",
            f"Review all repository rules at {rules_url}?ref={quote(ref, safe='')}",
        ]
    else:
        lines = [f"error: GH006: Protected branch update failed for {ref}."]
    for violation in found:
        lines += ["", f"- {violation.sentence}"]
        if rules.ruleset and violation.commits:
            count = len(violation.commits)
            lines += [f"  Found {count} violation{'s' if count > 1 else ''}:", ""]
            lines += [f"  {sha}" for sha in violation.commits]
    return [*lines, ""]


def api_refusal(rules: BranchRules, found: list[Violation]) -> tuple[int, str, str]:
    """``PATCH /git/refs``'s answer: status, message and documentation_url."""
    if rules.ruleset:
        sentences = "\n\n".join(v.sentence for v in found)
        return 409, f"Repository rule violations found\n\n{sentences}\n\n", RULES_DOCS
    return 422, " ".join(v.sentence for v in found), PROTECTION_DOCS


def hook_context(
    rules: dict[str, BranchRules],
    actors: list[str],
    succeeded: dict[str, set[str]],
    signed: set[str],
    rules_url: str,
) -> dict[str, str]:
    """Environment for the pre-receive hook: what it cannot look up itself."""
    return {
        "SIM_BRANCH_RULES": json.dumps(
            {
                branch: {"rules": asdict(r), "may_push": r.may_push(actors)}
                for branch, r in rules.items()
            }
        ),
        "SIM_SUCCEEDED": json.dumps({sha: sorted(names) for sha, names in succeeded.items()}),
        "SIM_SIGNED": " ".join(sorted(signed)),
        "SIM_RULES_URL": rules_url,
    }


def has_signature(raw_commit: bytes) -> bool:
    """Whether a commit object's headers hold a signature (``gpgsig``, ``gpgsig-sha256``)."""
    headers = raw_commit.split(b"\n\n", 1)[0]
    return any(line.startswith(b"gpgsig") for line in headers.split(b"\n"))


def _git(*args: str) -> bytes:
    return subprocess.run(["git", *args], capture_output=True, check=True).stdout


def _rules(raw: dict[str, Any]) -> BranchRules:
    allowances = raw.get("push_allowances")
    return BranchRules(
        required_signatures=bool(raw.get("required_signatures")),
        push_allowances=tuple(allowances) if allowances is not None else None,
        required_checks=tuple(raw.get("required_checks") or ()),
        ruleset=bool(raw.get("ruleset")),
    )


def pre_receive(updates: list[str], env: dict[str, str]) -> int:
    """Refuse (exit status 1, GitHub's lines on stdout) ref updates that break a branch's
    rules; ``updates`` are receive-pack's ``<old> <new> <ref>`` lines."""
    known = json.loads(env.get("SIM_BRANCH_RULES") or "{}")
    succeeded = {sha: set(names) for sha, names in json.loads(env.get("SIM_SUCCEEDED") or "{}").items()}
    signed = set((env.get("SIM_SIGNED") or "").split())
    zero = "0" * 40
    for line in updates:
        old, new, ref = line.split()
        branch = ref.removeprefix("refs/heads/")
        entry = known.get(branch) if ref.startswith("refs/heads/") else None
        if entry is None or new == zero:
            continue
        rules = _rules(entry["rules"])
        since = ["--not", "--all"] if old == zero else [f"^{old}"]
        new_commits = _git("rev-list", new, *since).decode().split()
        unsigned = [
            sha for sha in reversed(new_commits)
            if sha not in signed and not has_signature(_git("cat-file", "commit", sha))
        ]
        found = violations(
            rules, may_push=bool(entry["may_push"]), unsigned=unsigned, succeeded=succeeded.get(new, set())
        )
        if found:
            print("\n".join(git_refusal(rules, ref, found, env.get("SIM_RULES_URL", ""))))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(pre_receive(sys.stdin.read().splitlines(), dict(os.environ)))
