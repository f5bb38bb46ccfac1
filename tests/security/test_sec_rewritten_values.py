"""Values the security stage must read as the file means them before judging: a Dockerfile's
old ``ENV KEY value`` form and base64 in a Kubernetes Secret's or Helm values' ``data:``.
Secret-shaped values are built at run time, so that this file holds none."""

from __future__ import annotations

import base64
import json
import os

from bot.models import Severity
from bot.stages import security

PASSWORD = "Zq8" + "tLm2vXw9rKp4Hs"


def _secrets(result) -> dict[tuple[str, int], object]:
    return {(f.path, f.start_line): f for f in result.findings if f.engine == "secrets" and not f.suppressed}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_dockerfiles_env_without_equals_and_arg_defaults_fail(pr) -> None:
    """``ENV DB_PASSWORD <password>`` (the old form, a space for ``=``) passed: the keyword
    patterns know ``=`` and ``:`` only. ``ARG`` defaults fail as ``ENV`` values do."""
    dockerfile = (
        "FROM python:3.12-slim\n"
        f"ENV DB_PASSWORD {PASSWORD}\n"
        f'ENV API_TOKEN "{PASSWORD[::-1]}"\n'
        f"ARG REGISTRY_PASSWORD={PASSWORD[2:]}x\n"
        "ARG GITHUB_TOKEN\n"
        "ENV PATH /opt/venv/bin:$PATH\n"
        "ENV SECRET_KEY ${SECRET_KEY}\n"
    )
    head = {"Dockerfile": dockerfile, "docker/app.dockerfile": f"FROM x\nENV app_secret {PASSWORD}x\n"}
    result = security.run(pr({"README.md": "x\n"}, {"README.md": "x\n", **head}))
    found = _secrets(result)
    failing = {key for key, f in found.items() if f.severity is not Severity.NOTICE}
    assert failing == {("Dockerfile", 2), ("Dockerfile", 3), ("Dockerfile", 4), ("docker/app.dockerfile", 2)}
    assert PASSWORD not in json.dumps([f.model_dump() for f in result.findings]) + result.summary


def _secret_manifest(data: dict[str, str]) -> str:
    items = "".join(f"  {key}: {value}\n" for key, value in data.items())
    return f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n{items}"


def test_base64_data_is_judged_decoded(pr) -> None:
    """A Secret's ``password: cGFzc3dvcmQ=`` ("password") failed the check as a real
    password: base64 placeholders (``password``, ``changeme``, ``example``, with the newline
    ``echo | base64`` adds) are judged decoded, as ``stringData`` in clear is, while a real
    password encoded there still fails and binary data (a certificate's DER) is left alone."""
    manifest = _secret_manifest(
        {
            "password": "cGFzc3dvcmQ=",
            "db-password": _b64("changeme\n"),
            "api-token": _b64("example"),
            "admin-password": _b64(PASSWORD),
            "cert-der": base64.b64encode(os.urandom(48)).decode(),
        }
    )
    values = f"auth:\n  data:\n    redis-password: {_b64('changeme')}\n    root-password: {_b64(PASSWORD)}\n"
    head = {"k8s/db-secret.yaml": manifest, "charts/app/values.yaml": values}
    result = security.run(pr({"README.md": "x\n"}, {"README.md": "x\n", **head}))
    found = _secrets(result)
    failing = {key for key, f in found.items() if f.severity is not Severity.NOTICE}
    assert failing == {("k8s/db-secret.yaml", 10), ("charts/app/values.yaml", 4)}
    for key in [("k8s/db-secret.yaml", 7), ("k8s/db-secret.yaml", 8), ("charts/app/values.yaml", 3)]:
        assert key not in found or "placeholder" in found[key].message, key
    dump = json.dumps([f.model_dump() for f in result.findings]) + result.summary
    assert PASSWORD not in dump and _b64(PASSWORD) not in dump


def test_the_path_a_password_is_read_from_is_a_notice(pr) -> None:
    """``POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password`` (the postgres image's
    documented way to keep the password out of the environment) failed the check as a
    hard-coded password, in Compose files, .env files, Dockerfiles and code alike. A path
    under a key naming a file is a notice; slashes in a value under any other key still fail."""
    head = {
        "docker-compose.yml": (
            "services:\n  db:\n    image: postgres\n    environment:\n"
            "      POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password\n"
        ),
        ".env": f"MYSQL_ROOT_PASSWORD_FILE=/run/secrets/mysql_root_password\nDB_PASSWORD=/{PASSWORD}/x\n",
        "Dockerfile": "FROM postgres:16\nENV POSTGRES_PASSWORD_FILE /run/secrets/postgres_password\n",
        "app/k8s.py": 'API_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"\n',
    }
    result = security.run(pr({"README.md": "x\n"}, {"README.md": "x\n", **head}))
    found = _secrets(result)
    for key in [("docker-compose.yml", 5), (".env", 1), ("Dockerfile", 2), ("app/k8s.py", 1)]:
        assert found[key].severity is Severity.NOTICE, key
        assert "path of the file the secret is read from" in found[key].message
    assert {key for key, f in found.items() if f.severity is not Severity.NOTICE} == {(".env", 2)}
