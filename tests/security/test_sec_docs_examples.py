"""Example credentials in documentation: GitHub's secret scanning reports a real-looking key
in docs as anywhere else, and so does Shunter; a plainly made-up value in Markdown or reST
(axios 1.7.2's README, ioredis 5.4.1's) is lowered to a notice, never hidden. Secret-shaped
values are built at run time, so that this file holds none."""

from __future__ import annotations

import json

from bot.models import Severity
from bot.stages import security
from tests.security.conftest import assert_secrets_fail_at

PASSWORD = "Zq8" + "tLm2vXw9rKp4Hs"


def _secrets(result) -> dict[tuple[str, int], object]:
    return {(f.path, f.start_line): f for f in result.findings if f.engine == "secrets" and not f.suppressed}


def test_a_made_up_example_in_docs_is_a_notice_and_a_real_looking_one_fails(pr) -> None:
    """axios 1.7.2's README (``password: 's00pers3cret'``) failed the check. In Markdown or
    reST a value spelling a placeholder word is a notice; a real-looking value there, and
    the same made-up value in code, still fail."""
    readme = (
        "## Request config\n\n```js\nauth: {\n  username: 'janedoe',\n  password: 's00pers3cret'\n},\n```\n\n"
        f'```python\nclient = Client(api_key="{PASSWORD}")\n```\n'
    )
    head = {
        "README.md": readme,
        "docs/redis.rst": '.. code-block:: js\n\n    new Redis("redis://username:authpassword@10.0.0.5:6380/4");\n',
        "src/client.py": "auth = {'username': 'janedoe', 'password': 's00pers3cret'}\n",
    }
    result = security.run(pr({"README.md": "x\n"}, head))
    found = _secrets(result)
    assert found[("README.md", 6)].severity is Severity.NOTICE
    assert "made-up example in documentation" in found[("README.md", 6)].message
    assert found[("docs/redis.rst", 3)].severity is Severity.NOTICE
    assert found[("README.md", 11)].severity is Severity.WARNING
    assert found[("src/client.py", 1)].severity is Severity.WARNING


def test_well_known_doc_credentials_templates_and_masks_are_notices(pr) -> None:
    """Lines from alembic 1.20.1, celery 5.7.0, kombu 5.7.0, django 5.2.19, airflow's
    provider docs, node-redis 6.3.1's and axios 1.21.1's READMEs, each of which failed the
    check: scott/tiger, foobared, rapunz3l, a template's placeholder, a hasher's name, x's
    for a password, a service default, a password repeating the URL's names. Each is still
    listed, as a notice."""
    head = {
        "README.unittests.rst": (
            "    postgresql://scott:tiger@127.0.0.1:5432/test\n"
            "    mssql+pyodbc://scott:tiger^5HHH@mssql2017:1433/test?driver=ODBC\n"
            "    docker run -e POSTGRES_USER='scott' -e POSTGRES_PASSWORD='tiger' -d postgres\n"
        ),
        "README.md": (
            '```js\nurl: "redis://alice:foobared@awesome.redis.server:6380",\n```\n'
            "```js\nauth: {\n  username: 'mikeymike',\n  password: 'rapunz3l'\n}\n```\n"
        ),
        "docs/userguide/configuration.rst": (
            "    'password': '<<CLIENT_SECRET_FROM_ASTRA_DB_TOKEN>>'\n"
            "    password: 'cassandra'\n"
            "    sqs://aws_access_key_id:aws_secret_access_key@\n"
            "    'amqp://guest:guest@broken.example.com;guest:guest@healthy.example.com'\n"
            "    export AIRFLOW_CONN_MYSQL='mysql://mysql_user:XXXXXXXXXXXX@1.1.1.1:3306/mysqldb'\n"
        ),
        "docs/releases/1.10.txt": (
            'User.objects.filter(password__startswith="md5$$")\n'
            '    "PASSWORD": "s3krit",\n'
            '    "PASSWORD": "spam",\n'
        ),
        "provider.yaml": '      example: "db+postgresql+psycopg2://postgres:airflow@postgres/airflow"\n',
        "deploy/values.yml": 'password: "${DB_PASSWORD}"\napi_token: "$(API_TOKEN)"\nsecret: "{{ .Values.secret }}"\n',
        "app/db.py": 'DSN = {"password": "%(password)s", "token": "{{ token }}"}\n',
    }
    result = security.run(pr({"README.md": "x\n"}, head))
    found = _secrets(result)
    listed = {("README.unittests.rst", n) for n in (1, 2, 3)} | {("README.md", 2), ("README.md", 7)}
    listed |= {("docs/userguide/configuration.rst", n) for n in range(1, 6)}
    listed |= {("docs/releases/1.10.txt", n) for n in (1, 2, 3)} | {("provider.yaml", 1)}
    assert set(found) == listed  # every one listed (the templates in code are not), none fails
    assert {place: f.severity for place, f in found.items() if f.severity is not Severity.NOTICE} == {}
    assert result.metrics["conclusion"] != "failure"


def test_real_looking_values_fail_in_docs_and_examples_fail_in_code(pr) -> None:
    """What lowers the examples above lowers nothing real: vendor-shaped tokens and random
    values fail in a README, a well-known or repeated password fails in application code,
    and a template's field beside a real literal fails."""
    tokens = {
        "github": "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5",
        "aws": "AKIA" + "Q3EGRZ7PLMX5TV2K",
        "slack": "xoxb-" + "2048193756-4820193847562-Zq8tLm2vXw9rKp4HsYd",
        "stripe": "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    }
    readme = "".join(f"{name}: `{token}`\n" for name, token in tokens.items()) + (
        f'password: "{PASSWORD}"\n'
        f"redis://alice:{PASSWORD}@awesome.redis.server:6380\n"
        f'password: "tiger{PASSWORD[:8]}"\n'
        f'token: "{{{{env}}}}{PASSWORD}"\n'
    )
    head = {
        "README.md": readme,
        "app/settings.py": (
            'DATABASE_URL = "postgresql://scott:tiger@db.internal:5432/app"\n'
            'BROKER_URL = "amqp://billing:billing@rabbit.internal/billing"\n'
        ),
    }
    result = security.run(pr({"README.md": "x\n"}, head))
    found = _secrets(result)
    for n in range(1, 5):
        assert found[("README.md", n)].severity is Severity.ERROR, n
    for place in [("README.md", n) for n in range(5, 9)] + [("app/settings.py", 1), ("app/settings.py", 2)]:
        assert found[place].severity is Severity.WARNING, place
    assert result.metrics["conclusion"] == "failure"
    dump = json.dumps([f.model_dump() for f in result.findings]) + result.summary
    assert not [value for value in [*tokens.values(), PASSWORD] if value in dump]


def test_a_url_password_with_an_unencoded_at_is_found_whole_and_masked(pr) -> None:
    """``postgres://app:p@ss...@db`` was read as the password ``p``, which detect-secrets
    dropped as too short: the URL passed the check. The password runs to the authority's
    last ``@``; it fails, masked, in code and config, and the example host is still seen."""
    password = "p@" + "ssZq8tLm2vXw9"
    head = {
        "app/db.py": f'DATABASE_URL = "postgres://app:{password}@db.internal:5432/app"\n',
        "deploy/app.yml": f"database_url: postgres://app:{password}@db.internal:5432/app\n",
        "docs/setup.md": "    postgres://user:p@ss@example.com/db\n",
    }
    result = security.run(pr({"README.md": "x\n"}, head))
    example = _secrets(result).get(("docs/setup.md", 1))
    result.findings = [f for f in result.findings if f.path != "docs/setup.md"]
    assert_secrets_fail_at(result, {("app/db.py", 1), ("deploy/app.yml", 1)}, password, password[2:])
    assert example is not None and example.severity is Severity.NOTICE
