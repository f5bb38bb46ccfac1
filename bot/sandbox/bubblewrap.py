"""Finding bubblewrap, checking that it works here, and building its command line.

``bwrap_argv`` is pure: the sandbox's whole shape (what is visible, what is writable, which
namespaces are new) is decided there and can be read and tested without running anything.
The filesystem is an allow-list: the system directories and the Python runtime read-only,
the work dir read-write, a fresh ``/tmp``; everything else (home directories, the
worker's data dir, its keys, other checkouts) does not exist inside.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

BWRAP_ENV = "SHUNTER_SANDBOX_BWRAP"
"""Path to the bwrap binary; a path that does not exist disables bubblewrap (for tests)."""

SANDBOX_TMP = "/tmp"  # noqa: S108 - a fresh tmpfs inside the sandbox, private to one run
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc")


def find_bwrap() -> str | None:
    """The bwrap binary to use, from ``SHUNTER_SANDBOX_BWRAP`` or ``PATH``; None if absent."""
    configured = os.environ.get(BWRAP_ENV)
    if configured:
        path = Path(configured)
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which("bwrap")


def bwrap_missing() -> str:
    """Why ``find_bwrap`` found no binary. When ``SHUNTER_SANDBOX_BWRAP`` names one, the
    setting and its path, since the cause is there (a typo read as "bwrap is not installed"
    sent operators to install a package they had)."""
    configured = os.environ.get(BWRAP_ENV)
    if not configured:
        return "bwrap is not installed"
    path = Path(configured)
    if not path.exists():
        why = "no such file"
    elif not path.is_file():
        why = "not a file"
    else:
        why = "not executable"
    return f"{BWRAP_ENV}={configured}: {why}"


def python_roots() -> list[str]:
    """Directories the sandboxed interpreter needs: its prefixes and installed packages."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for entry in sys.path:
        if entry and ("site-packages" in entry or "dist-packages" in entry):
            roots.add(entry)
    real = {str(Path(r).resolve()) for r in roots if r}
    return sorted(real | {r for r in roots if r})


def bwrap_argv(
    bwrap: str,
    command: list[str],
    *,
    workdir: Path,
    env: Mapping[str, str],
    ro_paths: Iterable[str] = (),
    network: bool = False,
    drop_to: int | None = None,
    tmp_bytes: int = 256 * 1024 * 1024,
) -> list[str]:
    """The full bwrap invocation that runs ``command`` in ``workdir``.

    ``--unshare-all`` gives new user, PID, IPC, UTS, cgroup and network namespaces (the
    network namespace has only a downed loopback: no route anywhere); ``network=True``
    keeps the host network and is used only for the dependency install step, where no
    project code runs. ``--die-with-parent`` and the PID namespace make killing bwrap kill
    everything inside; ``--new-session`` stops the command from reaching our terminal.

    ``drop_to`` is for a worker running as root: a user namespace would map the sandbox
    back to uid 0, where the kernel ignores the process limit, so instead bwrap keeps the
    host's user namespace, hands the command only CAP_SETUID/CAP_SETGID, and ``setpriv``
    switches to the unprivileged uid (losing every capability) before the command starts.
    """
    if drop_to is None:
        argv = [bwrap, "--unshare-all"]
        if network:
            argv.append("--share-net")
        argv += ["--cap-drop", "ALL"]
    else:
        argv = [bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        if not network:
            argv.append("--unshare-net")
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    argv += ["--die-with-parent", "--new-session", "--hostname", "sandbox"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "01777", "--size", str(tmp_bytes)]
    argv += ["--tmpfs", SANDBOX_TMP]  # first, so read-only paths under /tmp stay visible
    mounts, shown, made = _ro_mounts([*SYSTEM_DIRS, *python_roots(), *ro_paths])
    argv += mounts
    work = str(workdir)
    for parent in map(str, reversed(workdir.parents)):
        if parent in ("/", SANDBOX_TMP) or parent in made or _covered(parent, shown):
            continue  # exists already: a read-only mount's content or a directory we made
        argv += ["--perms", "0755", "--dir", parent]  # the uid must reach its work dir
    argv += ["--bind", work, work, "--chdir", work, "--clearenv"]
    for key, value in sorted(env.items()):
        argv += ["--setenv", key, value]
    if drop_to is not None:
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        command = [
            setpriv,
            f"--reuid={drop_to}",
            f"--regid={drop_to}",
            "--clear-groups",
            "--no-new-privs",
            "--",
            *command,
        ]
    argv += ["--", *command]
    return argv


def _ro_mounts(paths: Iterable[str]) -> tuple[list[str], list[str], set[str]]:
    """Read-only binds for ``paths``, parents first, skipping paths a parent already shows.

    Missing parents are created world-traversable (``--perms 0755``): bwrap would otherwise
    copy the host's mode, and a ``/root`` of mode 0700 would hide a runtime installed under
    it from the unprivileged sandbox uid. Also returns the mounted paths and the made dirs.
    """
    wanted = sorted({os.path.normpath(p) for p in paths if p and os.path.lexists(p)})
    kept: list[str] = []
    for path in wanted:
        if not _covered(path, kept):
            kept.append(path)
    args: list[str] = []
    made: set[str] = set()
    for path in kept:
        parents = list(reversed(Path(path).parents))[1:]  # skip "/"
        for parent in map(str, parents):
            if parent not in made and parent != SANDBOX_TMP:
                made.add(parent)
                args += ["--perms", "0755", "--dir", parent]
        if os.path.islink(path) and os.path.dirname(path) == "/":
            args += ["--symlink", os.readlink(path), path]
        else:
            args += ["--ro-bind", path, path]
    return args, kept, made


def _covered(path: str, mounts: Iterable[str]) -> bool:
    return any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounts)


@lru_cache(maxsize=8)
def probe(bwrap: str, drop_to: int | None) -> str | None:
    """Run a trivial command under bwrap; None when it works, else why it does not.

    bwrap can be installed yet unusable (user namespaces disabled, seccomp in a container),
    so presence alone does not count as a sandbox.
    """
    if drop_to is not None and shutil.which("setpriv") is None:
        return "setpriv (util-linux) is missing, so root cannot drop to an unprivileged uid"
    argv = bwrap_argv(
        bwrap,
        [sys.executable, "-c", "pass"],
        workdir=Path(tempfile.gettempdir()),
        env={"PATH": "/usr/bin:/bin"},
        drop_to=drop_to,
    )
    try:
        done = subprocess.run(argv, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap could not start: {exc}"
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        return f"bwrap does not work here: {err[-1] if err else f'exit {done.returncode}'}"
    return None
