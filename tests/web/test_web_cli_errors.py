"""Errors a user can fix end a command with one line and exit status 2, as the README
promises ("2 means bad usage or input, 3 an unexpected error, 1 is kept for 'the check
failed'"): a missing file, an unknown queue entry, a payload that is not JSON. click's own
errors exited 1, so a script could not tell them from a failed check."""

from __future__ import annotations

from click.testing import CliRunner

from bot.cli import main


def test_config_validate_of_a_missing_file_is_bad_input_not_a_failed_check(clean_env):
    result = CliRunner().invoke(main, ["config", "validate", "nope.yml"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == "shunter: nope.yml: no such file"


def test_queue_show_of_an_unknown_entry(clean_env, monkeypatch, redis_url):
    monkeypatch.setenv("SHUNTER_REDIS_URL", redis_url)
    result = CliRunner().invoke(main, ["queue", "show", "abc"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == "shunter: no merge-queue entry 'abc'"
    # retry and drop already said so: the three agree
    assert CliRunner().invoke(main, ["queue", "drop", "abc"]).exit_code == 2


def test_replay_of_a_file_that_is_not_json(clean_env, tmp_path, monkeypatch):
    monkeypatch.setenv("SHUNTER_WEBHOOK_SECRET", "s")
    (tmp_path / "bad.json").write_text("nope\n")
    result = CliRunner().invoke(main, ["replay", "bad.json", "--event", "ping"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == "shunter: bad.json is not JSON: line 1: Expecting value"


def test_usage_errors_keep_clicks_usage_text(clean_env):
    result = CliRunner().invoke(main, ["config", "explain"])
    assert result.exit_code == 2
    assert "Usage: main config explain" in result.output  # CliRunner names the program "main"
    assert "give exactly one of --file or --repo" in result.output


def test_a_worker_name_already_running_is_bad_usage(clean_env, monkeypatch, tmp_path, redis_url):
    """`--name` is the worker's name in rq's registries: a second worker given the name of one
    that runs ended with rq's traceback, as "an unexpected error, please report it"."""
    from redis import Redis
    from rq import Worker

    monkeypatch.setenv("SHUNTER_REDIS_URL", redis_url)
    monkeypatch.setenv("SHUNTER_DATA_DIR", str(tmp_path / "data"))
    running = Worker(["merge"], connection=Redis.from_url(redis_url), name="shunter-worker-1")
    running.register_birth()
    try:
        result = CliRunner().invoke(main, ["worker", "--burst", "--queues", "merge", "--name", "shunter-worker-1"])
    finally:
        running.register_death()
    assert result.exit_code == 2, result.output
    assert "a worker named 'shunter-worker-1' is already running" in result.output
    assert "Traceback" not in result.output and "worker started" not in result.output
    done = CliRunner().invoke(main, ["worker", "--burst", "--queues", "merge", "--name", "shunter-worker-1"])
    assert done.exit_code == 0, done.output  # the name is free again once that worker ended


def test_demo_with_a_data_dir_it_cannot_use_is_bad_input(clean_env, tmp_path):
    """`shunter demo --data-dir` names where its state goes: a path under a file ended in a
    NotADirectoryError traceback, reported as an unexpected error, before anything started."""
    (tmp_path / "a-file").write_text("x\n")
    result = CliRunner().invoke(main, ["demo", "--data-dir", str(tmp_path / "a-file" / "state")])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("shunter: --data-dir ") and "Traceback" not in result.output
    assert "starting the GitHub simulator" not in result.output


def test_serve_port_out_of_range_names_the_option_given(clean_env, monkeypatch):
    """`serve --port 70000` was refused as "SHUNTER_PORT: ...", naming a setting the user never
    set; the option they typed is the one named now."""
    monkeypatch.setenv("SHUNTER_WEBHOOK_SECRET", "s")
    result = CliRunner().invoke(main, ["serve", "--port", "70000"])
    assert result.exit_code == 2, result.output
    assert "--port" in result.output and "SHUNTER_PORT" not in result.output
