"""Secrets in the non-Python files real pull requests change: configuration files, CI,
infrastructure, lock files. Each case was found by running the stage over a PR adding real
files (ansible-core 2.17.4's tests, poetry 1.8.3's fixtures, mcp 1.2.0's uv.lock, bootstrap
5.3.3's bundle) beside the credentials people commit by mistake. Secret-shaped values are
built at run time, so that this file holds none."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from bot.git.workspace import open_workspace
from bot.models import Severity
from bot.policies.schema import SecurityStageConfig
from bot.sarif import to_sarif
from bot.stages import security
from tests.security.conftest import assert_secrets_fail_at

PASSWORD = "Zq8" + "tLm2vXw9rKp4Hs"
TOKEN = "k9Jx2mQ7" + "vL4pR8sT1wY6zB3nC5hF0gDe"


def _secrets(result) -> dict[tuple[str, int], object]:
    return {(f.path, f.start_line): f for f in result.findings if f.engine == "secrets" and not f.suppressed}


def test_bare_values_in_env_files_dockerfiles_and_kubeconfigs_fail_the_check(pr) -> None:
    """``DB_PASSWORD=<password>`` in a committed .env passed: detect-secrets judged the
    extension-less file as code, where a value must be quoted, and knows no ``token``."""
    head = {
        ".env": f"DEBUG=false\nDB_PASSWORD={PASSWORD}\nSECRET_KEY={TOKEN}\n",
        "config/.env.production": f"export API_TOKEN={TOKEN}\n",
        "Dockerfile": f"FROM python:3.12\nARG GITHUB_TOKEN\nENV DB_PASSWORD={PASSWORD}\n",
        "deploy/kubeconfig": f"apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n    token: {TOKEN}\n",
        ".npmrc": f"//npm.pkg.github.com/:_authToken={TOKEN}\n",
    }
    result = security.run(pr({"README.md": "x\n"}, {"README.md": "x\n", **head}))
    expected = {
        (".env", 2),
        (".env", 3),
        ("config/.env.production", 1),
        ("Dockerfile", 3),
        ("deploy/kubeconfig", 6),
        (".npmrc", 1),
    }
    assert_secrets_fail_at(result, expected, PASSWORD, TOKEN)


def test_placeholders_and_references_in_config_files_do_not_fail(pr) -> None:
    """The files that teach the shape: an .env.example, ``${VAR}`` and ``${{ secrets.X }}``."""
    head = {
        ".env.example": "DB_PASSWORD=\nSECRET_KEY=changeme\nAPI_TOKEN=${API_TOKEN}\nDATABASE_URL=postgres://user:password@localhost/app\n",
        "Dockerfile": "FROM python:3.12\nARG PYPI_TOKEN\nENV API_TOKEN=${PYPI_TOKEN}\n",
        ".github/workflows/publish.yml": (
            "jobs:\n  publish:\n    steps:\n      - uses: pypa/gh-action-pypi-publish@release/v1\n"
            "        with:\n          password: ${{ secrets.PYPI_API_TOKEN }}\n"
            "        env:\n          NPM_TOKEN: ${{secrets.NPM_TOKEN}}\n"
        ),
    }
    result = security.run(pr({"README.md": "x\n"}, {"README.md": "x\n", **head}))
    assert result.metrics["conclusion"] == "success", result.summary
    assert all(f.severity is Severity.NOTICE for f in _secrets(result).values())


# ansible-core 2.17.4's test/integration/targets/user/tasks/test_password_lock.yml and
# module_no_log/tasks/main.yml, unarchive/tasks/test_ownership_top_folder.yml
ANSIBLE_OPTIONS = """\
- name: Lock the password
  user:
    name: ansibulluser
    password_lock: yes
    update_password: always
    no_log_secret: False
    secret: True
  vars:
    ansible_become_password: null
"""


def test_a_boolean_or_null_beside_a_password_keyword_is_no_secret(pr) -> None:
    """``password_lock: yes`` failed a PR adding ansible-core's user tests (5 warnings in
    one file, and 4 for ``update_password: always`` in the next): a boolean, null or the
    choice of Ansible's update_password option sets an option about a secret, never one."""
    head = {"roles/user/tasks/main.yml": ANSIBLE_OPTIONS + f"    password: {PASSWORD}\n"}
    result = security.run(pr({"README.md": "x\n"}, {"README.md": "x\n", **head}))
    assert [(path, line) for path, line in _secrets(result)] == [("roles/user/tasks/main.yml", 10)]
    assert result.metrics["conclusion"] == "failure"  # the real password beside them still fails


COMPOSE = """\
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: postgres
      MYSQL_ROOT_PASSWORD: root
"""
WORKFLOW = """\
jobs:
  test:
    services:
      postgres:
        image: postgres
        env:
          POSTGRES_PASSWORD: postgres
"""


def test_a_database_images_default_password_in_compose_or_ci_is_a_notice(pr) -> None:
    """``POSTGRES_PASSWORD: postgres`` in docker-compose.yml and a workflow's service
    container failed the check; it is the image's documented default for a throwaway
    container. The same word in application config, or a real password there, still fails."""
    head = {
        "docker-compose.yml": COMPOSE,
        ".github/workflows/test.yml": WORKFLOW,
        "deploy/values.yaml": "postgresql:\n  password: postgres\n",
        "compose.prod.yaml": f"services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: {PASSWORD}\n",
    }
    result = security.run(pr({"README.md": "x\n"}, {"README.md": "x\n", **head}))
    found = _secrets(result)
    for key in [("docker-compose.yml", 5), ("docker-compose.yml", 6), (".github/workflows/test.yml", 7)]:
        assert found[key].severity is Severity.NOTICE, key
        assert "default password of a database or broker container" in found[key].message
    assert found[("deploy/values.yaml", 2)].severity is Severity.WARNING
    assert found[("compose.prod.yaml", 4)].severity is Severity.WARNING
    assert result.metrics["failing"] == 2


def _pem(label: str, body: str) -> bytes:
    """A PEM block; the labels are joined at run time so this file holds no key header."""
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()


KEY_BODY = "MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MbzYLdZ7ZvVy"


@pytest.mark.parametrize("kind", ["RSA ", "EC ", "OPENSSH ", "", "ENCRYPTED "])
def test_a_base64_encoded_private_key_in_a_kubeconfig_or_secret_fails(pr, kind: str) -> None:
    """A kubeconfig's ``client-key-data`` (base64 of a PEM private key) passed the check:
    the ``BEGIN ... PRIVATE KEY`` header is not to be seen in base64. The certificate beside
    it, base64 of a public PEM, is no secret."""
    key = base64.b64encode(_pem(kind + "PRIVATE" + " KEY", KEY_BODY)).decode()
    cert = base64.b64encode(_pem("CERTIFICATE", KEY_BODY)).decode()
    head = {
        "deploy/kubeconfig": (
            "apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n"
            f"    client-certificate-data: {cert}\n    client-key-data: {key}\n"
        ),
        "charts/app/templates/tls.yaml": f"kind: Secret\ntype: kubernetes.io/tls\ndata:\n  tls.key: {key}\n",
    }
    result = security.run(pr({"README.md": "x\n"}, {"README.md": "x\n", **head}))
    found = _secrets(result)
    assert set(found) == {("deploy/kubeconfig", 7), ("charts/app/templates/tls.yaml", 4)}
    assert {(f.rule_id, f.severity) for f in found.values()} == {("secret.private-key-base64", Severity.ERROR)}
    assert key[20:60] not in json.dumps([f.model_dump() for f in result.findings]) + result.summary


def test_a_terraform_variables_default_credential_fails(pr) -> None:
    """``variable "db_password" { default = "..." }`` passed: the keyword patterns see only
    ``default = "..."``. A default for a variable named for a credential fails; a setting
    about one (``token_ttl``), an interpolation, a placeholder and a reference do not."""
    head = {
        "infra/variables.tf": (
            'variable "db_password" {\n  type      = string\n  default   = "' + PASSWORD + '"\n'
            "  sensitive = true\n}\n"
            'variable "token_ttl" {\n  default = "3600s"\n}\n'
            'variable "api_key" { default = "' + TOKEN + '" }\n'
            'variable "github_token" {\n  default = "${env.GITHUB_TOKEN}"\n}\n'
            'variable "client_secret" {\n  default = "changeme-in-prod"\n}\n'
        ),
        "infra/main.tf": 'resource "aws_db_instance" "db" {\n  password = var.db_password\n}\n',
    }
    result = security.run(pr({"README.md": "x\n"}, {"README.md": "x\n", **head}))
    found = {key: f.severity for key, f in _secrets(result).items()}
    assert found == {
        ("infra/variables.tf", 3): Severity.WARNING,
        ("infra/variables.tf", 9): Severity.WARNING,
    }  # line 14's changeme is a placeholder, as in a quoted password = "..."
    assert "infra/variables.tf:3" in result.summary


def test_digests_named_as_such_are_not_reported_and_other_hex_still_is(pr) -> None:
    """A PR adding poetry 1.8.3's PyPI JSON fixture for requests got 362 notices, one per
    release file's ``"md5"`` and ``"sha256"``; an SRI ``integrity="sha384-..."`` one more.
    A digest is published by design. A hex string with no such label is still a notice."""
    md5 = hashlib.md5(b"requests-2.18.4.tar.gz", usedforsecurity=False).hexdigest()
    sha256 = hashlib.sha256(b"requests-2.18.4.tar.gz").hexdigest()
    sri = base64.b64encode(hashlib.sha384(b"bootstrap.bundle.min.js").digest()).decode()
    head = {
        "tests/fixtures/pypi.org/json/requests.json": (
            '{\n  "urls": [\n    {\n      "digests": {\n'
            f'        "md5": "{md5}",\n        "sha256": "{sha256}"\n      }},\n'
            f'      "md5_digest": "{md5}"\n    }}\n  ]\n}}\n'
        ),
        "docs/_templates/layout.html": (
            '<script src="https://cdn.jsdelivr.net/npm/bootstrap@5.3.3/dist/js/bootstrap.bundle.min.js"'
            f' integrity="sha384-{sri}" crossorigin="anonymous"></script>\n'
        ),
        "app/config.json": f'{{\n  "salt": "{sha256}"\n}}\n',
    }
    result = security.run(pr({"README.md": "x\n"}, {"README.md": "x\n", **head}))
    assert list(_secrets(result)) == [("app/config.json", 2)]


def test_a_pr_from_the_simulator_committing_a_dotenv_fails_on_its_lines(simulator, tmp_path) -> None:
    """End to end: the PR is fetched from the simulator over git smart HTTP. Its .env's
    password fails the check on its line, the Compose file's default password beside it
    is a notice, and neither value reaches the SARIF."""
    simulator.create_repo("octo/app", {"README.md": "# app\n", ".env.example": "DB_PASSWORD=\n"})
    head_sha = simulator.commit(
        "octo/app",
        "local-db",
        {".env": f"DB_PASSWORD={PASSWORD}\n", "docker-compose.yml": COMPOSE},
        author="alice",
    )
    number = simulator.open_pull_request("octo/app", "local-db", title="Local database", user="alice")
    token = simulator.installation_token("octo/app")
    ws = open_workspace(tmp_path / "data", "octo/app", f"{simulator.url}/octo/app.git", token=token)
    ws.fetch_pull_request(number, base_branch="main")
    result = security.run(ws.context_for("refs/heads/main", head_sha, options=SecurityStageConfig()))
    found = {key: f.severity for key, f in _secrets(result).items()}
    assert found == {
        (".env", 1): Severity.WARNING,
        ("docker-compose.yml", 5): Severity.NOTICE,
        ("docker-compose.yml", 6): Severity.NOTICE,
    }
    assert result.metrics["conclusion"] == "failure" and result.metrics["failing"] == 1
    assert PASSWORD not in json.dumps(to_sarif([result]))
