"""The ``shunter`` command line.

Subcommands live beside the code they drive and are imported only when invoked, so
``shunter --help`` stays fast and one broken feature cannot stop the others from starting.
Every ``ShunterError``, and every ``click.ClickException`` a command raises, becomes one
line on stderr and exit status 2 (1 is kept for "the check failed", e.g. ``shunter run``
or ``shunter config validate``). Anything else
that escapes a command is unexpected: its traceback, one line saying so, and status 3, so
a script never mistakes a crash for "the check failed". Ctrl-C exits 130, as shells do.
"""

from __future__ import annotations

import errno
import importlib
import sys
import traceback
from typing import Any

import click

from bot import __version__
from bot.errors import ShunterError

EXIT_ERROR = 2
"""Bad usage or input Shunter cannot work with (a setting, a path, a ref, a config)."""
EXIT_UNEXPECTED = 3
"""Shunter could not finish: an unexpected exception (a corrupt repository, a bug)."""
EXIT_INTERRUPTED = 130

# name -> "module:attribute" of a click command or group
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("bot.web.commands:serve", "Run the webhook server (optionally with a worker)."),
    "worker": ("bot.queue.commands:worker", "Run an rq worker over Shunter's queues."),
    "replay": ("bot.web.commands:replay", "Sign and POST a saved webhook payload to a server."),
    "redeliver": ("bot.web.commands:redeliver", "Ask GitHub again for webhook deliveries that failed."),
    "doctor": ("bot.doctor:doctor", "Check settings, Redis and the App's credentials."),
    "version": ("bot.cli:version", "Print Shunter's version."),
    "config": ("bot.policies.commands:config", "Validate, explain and export repository config."),
    "run": ("bot.local_run:run", "Run Shunter's stages on a local git repository."),
    "demo": ("bot.demo:demo", "Run the whole loop against the built-in GitHub simulator."),
    "queue": ("bot.queue.merge_cli:queue", "Inspect and manage the merge queue."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attr = target[0].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                return _unavailable(cmd_name, target[1])
            raise
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ShunterError as exc:
            click.echo(f"shunter: {exc}", err=True)
            ctx.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            click.echo("\nshunter: interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except click.ClickException as exc:
            if exc.exit_code != 1:
                raise  # usage errors already exit 2 with click's usage text
            # click's default status for an error (a missing file, an unknown id) is 1,
            # which Shunter keeps for "the check failed": say it as every error is said.
            click.echo(f"shunter: {exc.format_message()}", err=True)
            ctx.exit(EXIT_ERROR)
        except (click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
                raise  # the reader went away (``| head``): click exits quietly
            click.echo(traceback.format_exc().rstrip(), err=True)
            click.echo(
                f"shunter: unexpected error: {type(exc).__name__}: {exc} (if your setup is not "
                "the cause, please report it with the traceback above)",
                err=True,
            )
            ctx.exit(EXIT_UNEXPECTED)


def _unavailable(name: str, help_text: str) -> click.Command:
    @click.command(name=name, help=help_text)
    def missing() -> None:
        raise click.ClickException(f"'shunter {name}' is not available in this build")

    return missing


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="shunter")
def main() -> None:
    """Shunter: reviews, secures and tests pull requests; lands agent patches safely."""


@click.command()
def version() -> None:
    """Print Shunter's version."""
    click.echo(f"shunter {__version__} (python {sys.version.split()[0]})")


if __name__ == "__main__":  # pragma: no cover
    main()
