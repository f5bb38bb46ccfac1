"""A forking worker imports the code stage jobs run once, before it forks.

rq runs each job in a work horse forked from the worker: the horse inherits the worker's
imports and loses its own when it exits. A worker that had not imported the stage job,
the review stage and detect-secrets made every job import them again, hundreds of
milliseconds of CPU per pull request for a stage whose own work is a few tens.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

# a real forking worker in a fresh interpreter (this test process has imported them all);
# the job runs in its horse and says which of the modules were there when it started
WORKER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from redis import Redis
    from rq import Queue
    from rq.serializers import JSONSerializer
    from bot.queue.commands import build_worker
    from bot.settings import load_settings

    redis_url, data_dir, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    queue = Queue("stages", connection=Redis.from_url(redis_url), serializer=JSONSerializer)
    jobs = [queue.enqueue("sys.modules.__contains__", name) for name in names]
    settings = load_settings(data_dir=Path(data_dir), redis_url=redis_url)
    worker = build_worker(settings, redis_url, ("stages",), fork=True)
    worker.work(burst=True, logging_level="WARNING")
    print(json.dumps({name: job.return_value() for name, job in zip(names, jobs)}))
    """
)


def test_a_forked_stage_job_finds_the_stage_code_already_imported(tmp_path, redis_url) -> None:
    names = ["bot.pipeline.stage_job", "bot.stages.review", "detect_secrets.core.scan", "detect_secrets.plugins.aws"]
    done = subprocess.run(
        [sys.executable, "-c", WORKER, redis_url, str(tmp_path / "data"), *names],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == dict.fromkeys(names, True), done.stderr
