"""A local GitHub for end-to-end tests and ``shunter demo``: REST API, git over HTTP, webhooks.

Shunter is tested the way it runs: real HTTP on loopback, real git, signed webhooks. The
simulator serves the REST routes Shunter calls (answers shaped like GitHub's, checked
against githubkit's models), git smart HTTP over bare repositories, and sends signed webhook
deliveries to a configured URL.

Driving it (all driver methods are synchronous and thread-safe)::

    from bot.simulator import Simulator, SimulatorThread

    with SimulatorThread(tmp_path, webhook_url=None) as sim:     # own loop, own thread
        sim.webhook_url = "http://127.0.0.1:8080/webhooks"        # settable any time
        env = sim.settings_env()   # SHUNTER_GITHUB_URL, _APP_ID, _PRIVATE_KEY_PATH,
                                   # _WEBHOOK_SECRET, _BOT_LOGIN
        sim.create_repo("octo/demo", {"a.py": "x = 1\\n"})        # installs the App on octo
        sim.commit("octo/demo", "feature", {"a.py": "x = 2\\n"}, author="alice")
        n = sim.open_pull_request("octo/demo", "feature", user="alice")  # pull_request.opened
        sim.set_permission("octo/demo", "alice", "write")
        sim.comment("octo/demo", n, "/shunter help", user="alice")      # issue_comment.created
        sim.wait_for_deliveries()                                         # webhooks attempted
        sim.check_runs("octo/demo")[0].annotations                        # state for asserts
        sim.recorder.count("POST /repos/octo/demo/check-runs")            # what Shunter called
        sim.faults.secondary_rate_limit(retry_after=1, pattern="POST /repos/*", times=1)

Inside an event loop (the demo): ``sim = Simulator(dir); await sim.start(); ...;
await sim.drain(); await sim.stop()``.

Other driver calls: ``install``, ``installation_token`` (mint a token without a JWT),
``set_installation_permissions``, ``advance_time`` (expire tokens/JWTs), ``set_rate_limit``,
``fork``, ``create_branch``, ``ref``/``refs``/``file``, ``clone_url(name, token)``,
``close_pull_request``/``reopen_pull_request``/``ready_for_review``/``add_label``,
``comment(..., permission="write")``, ``edit_comment``, ``click_button``
(check_run.requested_action), ``rerequest_check_run``, ``rerequest_check_suite``,
``complete_workflow_run`` (CI: a GitHub Actions check run in its own suite plus
workflow_run.completed), ``request_merge_group`` (merge_group.checks_requested),
``send_event`` (any payload), ``redeliver``; queries ``check_runs`` (with every annotation),
``comments``, ``reviews``, ``review_comments``, ``deliveries``, ``pull``.

Faults (``sim.faults``): ``error(status, pattern, times)``, ``secondary_rate_limit(
retry_after, pattern, times)``, ``latency(seconds, pattern)``, ``drop(pattern, times)``,
``lost_response(pattern, times, status=502, drop=False)`` (the route runs, so a write takes
effect, then the answer is replaced by ``status`` or a dropped connection: what makes a blind
retry of a POST post twice), ``pace_mutations(min_interval)`` (403 secondary limit for writes
of one installation closer than that), ``remove``/``clear``. Patterns are globs over
``"METHOD /path"``.

Behaviour worth knowing: every GET answer has an ETag and ``If-None-Match`` gets a 304 that
does not spend the budget; the App receives webhooks for its own actions as GitHub sends
them (its comments' ``issue_comment``, ``check_run`` ``created``/``completed`` unless
``Simulator(check_run_lifecycle_events=False)``), so handlers must ignore the bot's login;
ids are unique across every simulator in a process (githubkit caches tokens by id).

``python -m bot.simulator`` runs one and prints its URL, App id, key path and secret.

Modules: ``driver`` (this API), ``server`` (aiohttp app and middleware), ``auth`` (JWT,
tokens, permissions, budgets), ``routes_*`` (REST by area), ``git_http`` (smart HTTP),
``webhooks`` (signed delivery), ``events`` (payloads), ``shapes`` (REST bodies),
``activity`` (what happens and which webhooks it sends), ``state`` and ``gitstore`` (data),
``faults``, ``recorder``.
"""

from bot.simulator.driver import RepoHandle, Simulator, SimulatorThread
from bot.simulator.recorder import RecordedRequest

__all__ = ["RecordedRequest", "RepoHandle", "Simulator", "SimulatorThread"]
