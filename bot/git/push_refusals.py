"""What GitHub said when a branch's protection or rulesets refused Shunter's push, and what
to change so the next one lands.

GitHub words the refusal the same way over git and through the API, only framed
differently: ``git push`` prints ``remote: error: GH006: Protected branch update failed for
refs/heads/<b>.`` (branch protection) or ``remote: error: GH013: Repository rule violations
found for refs/heads/<b>.`` (a ruleset), then one ``- <sentence>`` per broken rule; ``PATCH
/git/refs`` answers 422 with the sentence (protection) or 409 ``Repository rule violations
found`` with the sentences (ruleset). Such a refusal does not go away on a retry: only a
change to the rules or to Shunter's config lets the change land, so the merge queue
dead-letters it at once and the reply says which of the two to make.

Pure functions: :mod:`bot.git.push` reads git's output and the API's answer with them.
"""

from __future__ import annotations

import re

from bot.store.redaction import redact_secrets

MAX_LINES = 20

_NOISE = re.compile(r"^(Resolving deltas|Counting objects|Compressing objects|Writing objects|Total \d)")


def remote_refusal(output: str, token: str | None = None) -> str:
    """The lines of ``git push`` output that say why the remote refused: the ``remote:``
    lines (GitHub's GH006/GH013 block, a pre-receive hook's words) and git's ``[remote
    rejected]`` status, without progress lines, credentials or ``token``.

    The last line alone (``error: failed to push some refs to '<url>'``) was all the dead
    letter kept, which names no rule."""
    said: list[str] = []
    status: list[str] = []
    for raw in output.splitlines():
        line = raw.rstrip()
        if line.startswith("remote:"):
            text = line.removeprefix("remote:").strip()
            if text and not _NOISE.match(text):
                said.append(text)
        elif "[remote rejected]" in line:  # porcelain: "!<TAB>sha:refs/heads/b<TAB>[remote rejected] (why)"
            parts = [p.strip() for p in line.split("\t") if p.strip() not in ("", "!")]
            status.append(" ".join(p.rpartition(":")[2] if ":refs/" in p else p for p in parts))
    text = "\n".join([*said[: MAX_LINES - len(status)], *status])
    if token:
        text = text.replace(token, "***")
    return redact_secrets(text)


_SIGNATURES = ("verified signatures", "valid signatures", "must be signed")
_PUSHERS = ("not authorized to push", "cannot update this protected ref")
_PULL_REQUEST = ("must be made through a pull request",)
_CHECKS = ("required status check",)


def rules_broken(refusal: str) -> list[str]:
    """Which rules GitHub's refusal names, by its wording: ``signatures``, ``pushers``,
    ``pull_request``, ``checks``; empty when it names none Shunter knows."""
    lowered = refusal.lower()
    kinds = {
        "signatures": _SIGNATURES,
        "pushers": _PUSHERS,
        "pull_request": _PULL_REQUEST,
        "checks": _CHECKS,
    }
    return [kind for kind, words in kinds.items() if any(w in lowered for w in words)]


def rule_advice(refusal: str, method: str) -> str | None:
    """What to change so Shunter's push passes the rules ``refusal`` names, for a push made
    by ``method`` (``git`` or ``api``); None when it names no rule Shunter knows.

    Markdown of Shunter's own (config keys as code), one sentence per rule."""
    config = "`.github/shunter.yml`"
    follow_up = (
        f"set `patches.push_to: pull_request` in {config} so Shunter pushes its fixes to a "
        "branch of its own and opens a pull request from it against this one"
    )
    said: list[str] = []
    for kind in rules_broken(refusal):
        if kind == "signatures" and method == "git":
            said.append(
                "The branch requires signed commits, and a commit Shunter pushes with `git "
                f"push` is not signed: set `patches.push_method: api` in {config}; GitHub "
                "signs the commits Shunter makes through its API. (A fork's branch can only "
                "take `git push`: there the fork's owner must lift the rule, or apply the fix "
                "by hand.)"
            )
        elif kind == "signatures":
            said.append(
                "The branch requires signed commits and refused even the commit GitHub signed "
                "for Shunter through its API: ask an admin to check the rule (a ruleset's "
                "bypass list can name the App)."
            )
        elif kind == "pushers":
            said.append(
                "The branch lets only the people and Apps it names push to it: ask an admin to "
                "allow the Shunter App (branch protection's \"Restrict who can push to "
                "matching branches\" list, or the ruleset's bypass list), or "
                f"{follow_up}."
            )
        elif kind == "pull_request":
            said.append(
                "The branch takes changes only through pull requests: "
                f"{follow_up}, or ask an admin to let the App bypass the rule."
            )
        elif kind == "checks":
            said.append(
                "The branch takes only commits whose required status checks have passed, and "
                f"Shunter's new commit has not been checked yet: {follow_up} (its checks run "
                "there), or ask an admin to let the App bypass the rule."
            )
    if not said:
        return None
    return " ".join(said) + " Retrying before one of these changes fails the same way."
