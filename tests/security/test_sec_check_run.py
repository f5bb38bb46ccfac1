"""The ``shunter/security`` check run as a maintainer reads it: the real stage on real
commits (bandit, detect-secrets, Shunter's rules), the output GitHub receives
(``check_run_output``), and ``shunter run --format text|markdown``, which must say the same."""

from __future__ import annotations

from bot.local_run import render_markdown, render_text
from bot.policies.schema import SecurityStageConfig, ShunterConfig
from bot.publishing.check_runs import check_run_output
from bot.stages import security

# bandit's B608 alone: a warning it is not sure of (low confidence)
SQL = "def f(user):\n    query = \"SELECT * FROM users WHERE name = '%s'\" % user\n    return query\n"
SHELL = "import subprocess\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n"
YAML = "import yaml\n\n\ndef load(text):\n    return yaml.load(text)\n"


def _config(**security_options: object) -> ShunterConfig:
    return ShunterConfig.model_validate({"version": 1, "stages": {"security": security_options}})


def test_a_passing_check_says_why_its_warning_does_not_fail_it(pr) -> None:
    ctx = pr({"README": "x"}, {"app/db.py": SQL}, fail_on_confidence="high")
    result = security.run(ctx)
    [warning] = [f for f in result.findings if not f.suppressed]
    assert (warning.rule_id, warning.confidence) == ("B608", "low")

    plan = check_run_output(result, SecurityStageConfig(fail_on_confidence="high"))
    assert (plan.conclusion, plan.title) == ("success", "1 warning")
    said = "1 warning is below the confidence that fails the check (`fail_on_confidence: high`)."
    assert plan.summary.count(said) == 1  # was not said: a green check with a warning on it

    config = _config(fail_on_confidence="high")
    markdown = render_markdown([result], config, [])
    assert markdown.count(said) == 1
    text = render_text(ctx, [result], config, [])
    assert "(fails on warning at high confidence)" in text and text.count(said) == 1


def test_a_failing_check_names_the_confidence_it_fails_on(pr) -> None:
    result = security.run(pr({"README": "x"}, {"app/db.py": SQL, "app/run.py": SHELL}, fail_on_confidence="high"))
    plan = check_run_output(result, SecurityStageConfig(fail_on_confidence="high"))
    assert plan.conclusion == "failure"
    assert "The check fails on findings of severity `warning` or higher and `high` confidence." in plan.summary
    assert "1 warning is below the confidence that fails the check" in plan.summary


def test_what_fails_the_check_is_said_once(pr) -> None:
    ctx = pr({"README": "x"}, {"app/run.py": SHELL})
    result = security.run(ctx)
    plan = check_run_output(result, SecurityStageConfig())
    assert plan.conclusion == "failure"
    rule = "The check fails on findings of severity `warning` or higher."
    assert plan.summary.count(rule) == 1
    # the stage said it again in its own words ("Fails because 1 finding(s) are at or above")
    assert "Fails because" not in plan.summary and "fail_on: warning" not in plan.summary
    # shunter run's markdown says it as the check run does, once
    markdown = render_markdown([result], _config(), [])
    assert markdown.count(rule) == 1 and "Fails because" not in markdown


def test_fixes_are_counted_once_in_plain_english(pr) -> None:
    ctx = pr({"README": "x"}, {"app/load.py": YAML})
    result = security.run(ctx)
    assert len(result.patches) == 1
    plan = check_run_output(result, SecurityStageConfig())
    assert "(s)" not in plan.summary and "(es)" not in plan.summary  # "1 mechanical fix patch(es) ready"
    assert plan.summary.count("1 fix available: press **Apply fixes**") == 1
    assert plan.summary.count("/shunter apply security") == 1
    # the stage's list says which finding the fix is for
    [line] = [x for x in plan.summary.splitlines() if "`shunter.unsafe-yaml-load`" in x]
    assert line.endswith("_(fix available)_")
    text = render_text(ctx, [result], _config(), [])
    assert "(1 file; see --format json for the diff)" in text  # was "1 files"


SECRETS = (  # made up: AWS's documented examples are notices (published examples)
    'AWS_SECRET_ACCESS_KEY = "Zk3pQ8vN2xR7mT4wL9bY1cF6hJ0sD5gA3eK8uVqP"\n'
    'AWS_ACCESS_KEY_ID = "AKIAQYLPMN5HHHFPZAM2"\n'
)
HASH = "import hashlib\n\n\ndef digest(data):\n    return hashlib.md5(data).hexdigest()\n"
CLEAN = "def add(a, b):\n    return a + b\n"


def test_dismissed_findings_leave_the_stage_summary_too(pr) -> None:
    result = security.run(pr({"README": "x"}, {"app/run.py": SHELL, "app/hashing.py": HASH}))
    gone = [f.fingerprint for f in result.findings if f.rule_id in ("B324", "B404")]
    assert len(gone) == 2
    plan = check_run_output(result, SecurityStageConfig(), dismissed=gone)
    assert plan.title == "1 error"
    assert "2 findings dismissed on this PR are not shown." in plan.summary
    # the stage's list still showed them, and counted "3 new findings (2 errors, 1 notice)"
    assert "`B324`" not in plan.summary and "`B404`" not in plan.summary
    assert "**1 new finding** (1 error)." in plan.summary
    assert "`shunter.subprocess-shell-injection`" in plan.summary
    one = check_run_output(result, SecurityStageConfig(), dismissed=gone[:1])
    assert "1 finding dismissed on this PR is not shown." in one.summary  # was "are"


def test_secrets_advice_is_given_once_however_many_secrets(pr) -> None:
    result = security.run(pr({"README": "x"}, {"app/settings.py": SECRETS, "app/clean.py": CLEAN}))
    secrets = [f for f in result.findings if f.rule_id.startswith("secret.")]
    assert len(secrets) == 2
    summary = check_run_output(result, SecurityStageConfig()).summary
    # each listed secret repeated the advice the note under the list gives (three times for two)
    assert summary.lower().count("rotation is a human job") == 1
    [key] = [f for f in secrets if f.rule_id == "secret.aws-secret-access-key"]
    line = "- `app/settings.py:1` `secret.aws-secret-access-key` Possible AWS secret access key (`***`)"
    assert f"{line} · `{key.short_id}`\n" in summary
    assert "at app/settings.py:1" not in summary  # the line already names the place
    # the list is the check's only one: the table under it said each secret's whole
    # message (its place and the advice again) a second time
    assert check_run_output(result, SecurityStageConfig()).text is None
    # the annotations keep the whole advice: they are read one at a time, on the diff
    assert all("Rotation is a human job" in a["message"] for batch in check_run_output(result).annotation_batches
               for a in batch if a["title"].startswith("secret."))


def test_suppressed_findings_are_counted_once_and_not_said_to_be_hidden(pr) -> None:
    head = {
        "app/run.py": (
            "import subprocess  # shunter: ignore[B404] we need it\n\n\ndef run(cmd):\n"
            "    return subprocess.call(cmd, shell=True)  # shunter: ignore[shunter.subprocess-shell-injection] "
            "cmd is a constant\n"
        )
    }
    result = security.run(pr({"README": "x"}, head))
    summary = check_run_output(result, SecurityStageConfig()).summary
    assert "### Suppressed inline (2)" in summary  # listed with their reasons
    assert "not shown" not in summary  # the check said "2 findings suppressed in the code are not shown"
    assert "2 findings suppressed in the code are not counted." in summary
    assert "2 suppressed inline" not in summary  # a third time


def test_one_pre_existing_finding_is_one(pr) -> None:
    base = {"app/hashing.py": HASH}
    head = {"app/hashing.py": HASH + "\n\ndef other():\n    return 1\n"}
    result = security.run(pr(base, head, new_only=True))
    assert result.metrics["preexisting"] == 1
    assert "1 pre-existing finding not shown" in result.summary  # was "1 pre-existing findings"


def test_shunter_runs_first_line_counts_one_changed_file_in_the_singular(pr) -> None:
    ctx = pr({"README": "x"}, {"README": "x", "app/db.py": SQL})
    first = render_text(ctx, [security.run(ctx)], _config(), []).splitlines()[0]
    assert first.endswith("(1 changed file)"), first  # was '(1 changed files)'
