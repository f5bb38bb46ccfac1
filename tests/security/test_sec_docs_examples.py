"""Example credentials in documentation: GitHub's secret scanning reports a real-looking key
in docs as anywhere else, and so does Shunter; a plainly made-up value in Markdown or reST
(axios 1.7.2's README, ioredis 5.4.1's) is lowered to a notice, never hidden. Secret-shaped
values are built at run time, so that this file holds none."""

from __future__ import annotations

from bot.models import Severity
from bot.stages import security

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
