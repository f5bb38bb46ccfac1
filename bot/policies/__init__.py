"""Repository config (``.github/shunter.yml``) and the policy decisions made from it.

Modules, core first: ``schema`` (pydantic models, the JSON Schema's source), ``safe_yaml``
(parsing with positions and limits), ``validation`` (one file → settings or problems at
``file:line:col``), ``merge`` (layers and provenance), ``globs``, ``decisions`` (pure
answers with reasons), ``check_output`` (the ``shunter/config`` check run); the shell:
``source`` (reading files from GitHub or disk), ``cache``, ``effective`` (loading the
effective config), ``presets`` (where shipped presets live), ``commands`` (the CLI).
Nothing is imported here so that ``bot.policies.presets`` stays importable on its own.
"""
