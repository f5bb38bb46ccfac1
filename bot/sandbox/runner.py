"""Running one command on a throwaway work dir, contained, and saying how it ended.

``Sandbox.for_pr`` turns the trust decision into a runner (or a ``SandboxRefused``);
``Sandbox.run`` executes a command under bubblewrap (or, for trusted authors without
bubblewrap, under rlimits alone), kills the whole process tree at the wall-clock limit,
and returns a ``SandboxResult`` whose ``note`` says in one sentence what happened.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import SandboxError
from bot.sandbox.bubblewrap import bwrap_argv, bwrap_missing, find_bwrap, probe
from bot.sandbox.environment import sandbox_env
from bot.sandbox.hostfs import chown_tree
from bot.sandbox.limits import Limits, preexec_hook, processes_of_uid, rlimit_pairs
from bot.sandbox.trust import Strength, TrustDecision, decide

if TYPE_CHECKING:
    from bot.stages.context import Origin

UID_ENV = "SHUNTER_SANDBOX_UID"
DEFAULT_UNPRIVILEGED_UID = 65534  # nobody
TAIL_BYTES = 8192

_SIGNAL_MEANING: dict[int, str] = {
    signal.SIGXCPU: "the CPU time limit",
    signal.SIGXFSZ: "the file size limit",
    signal.SIGKILL: "SIGKILL (a hard CPU or memory limit)",
    signal.SIGSEGV: "a segmentation fault (often the memory limit)",
    signal.SIGABRT: "an abort",
}

_DIAGNOSES = (
    ("MemoryError", "it ran out of its memory limit"),
    ("Cannot allocate memory", "it ran out of its memory limit"),
    ("File too large", "it hit the file size limit"),
    ("Network is unreachable", "it tried to reach the network, which the sandbox has not"),
    ("Temporary failure in name resolution", "it tried to resolve a host name; no network"),
    ("Name or service not known", "it tried to resolve a host name; no network"),
    ("Read-only file system", "it tried to write outside its work dir (read-only)"),
    ("Permission denied", "it tried to touch something it may not"),
    ("No such file or directory", "it reached for a path the sandbox does not show"),
    ("Resource temporarily unavailable", "it hit the process limit"),
    ("BlockingIOError", "it hit the process limit"),
)


class SandboxRefused(SandboxError):
    """The policy forbids running this PR's code here; ``reason`` is for the check summary."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SandboxResult:
    command: list[str]
    exit_code: int | None
    stdout_tail: str
    stderr_tail: str
    timed_out: bool
    killed_by: str | None
    strength: Strength
    seconds: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and self.killed_by is None

    @property
    def note(self) -> str:
        """One sentence for humans: how the command ended and, if it failed, the likely why."""
        if self.timed_out:
            return f"stopped: {self.killed_by}; the whole process tree was killed"
        if self.killed_by:
            return f"stopped by {self.killed_by}"
        if self.exit_code == 0:
            return f"finished in {self.seconds:.1f}s"
        text = self.stderr_tail + self.stdout_tail
        for needle, meaning in _DIAGNOSES:
            if needle in text:
                return f"failed with exit code {self.exit_code}: {meaning}"
        return f"failed with exit code {self.exit_code}"


def _tail(path: Path) -> str:
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - TAIL_BYTES))
        return handle.read().decode(errors="replace")


def sandbox_uid() -> int | None:
    """The uid sandboxed code runs as: ours, unless we are root (rlimits do not bind root)."""
    if os.geteuid() != 0:
        return None
    return int(os.environ.get(UID_ENV, DEFAULT_UNPRIVILEGED_UID))


def _python_usable_as(uid: int) -> bool:
    try:
        done = subprocess.run(
            [sys.executable, "-c", "pass"],
            user=uid,
            group=uid,
            extra_groups=[],
            capture_output=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def give_to(path: Path, uid: int | None) -> None:
    """Hand a work dir to the sandbox uid so the command can write there (and only there).

    The tree may hold links an earlier sandbox run planted; ``chown_tree`` walks it by
    directory descriptors and never follows one, so a link cannot hand a host file (or a
    directory swapped in between listing and chown) to the sandbox uid.
    """
    if uid is None:
        return
    chown_tree(path, uid)


@dataclass
class Sandbox:
    """A configured runner. Build it with ``Sandbox.for_pr``; ``notes`` go into the check."""

    strength: Strength
    bwrap: str | None
    limits: Limits = field(default_factory=Limits)
    run_as: int | None = None
    ro_paths: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    decision: TrustDecision | None = None

    @classmethod
    def for_pr(
        cls,
        *,
        trusted_author: bool,
        run_untrusted: bool,
        limits: Limits | None = None,
        ro_paths: Iterable[str] = (),
        origin: Origin = "pull_request",
    ) -> Sandbox:
        """The strongest sandbox this machine offers for a PR, or ``SandboxRefused``; its
        reasons speak of ``origin`` (a PR, or ``shunter run``)."""
        uid = sandbox_uid()
        notes: list[str] = []
        bwrap = find_bwrap()
        problem: str | None = bwrap_missing() if bwrap is None else None
        if bwrap is not None:
            problem = probe(bwrap, uid)
            if problem is not None and uid is not None and probe(bwrap, None) is None:
                problem, uid = None, None
                notes.append(
                    "bubblewrap could not drop root to an unprivileged uid here, so the "
                    "process limit is not enforced (the kernel exempts uid 0)"
                )
        decision = decide(
            trusted_author=trusted_author, run_untrusted=run_untrusted, bwrap_problem=problem, origin=origin
        )
        if not decision.allowed:
            raise SandboxRefused(decision.reason)
        rlimits_only = decision.strength is Strength.RLIMITS_ONLY
        if rlimits_only and uid is not None and not _python_usable_as(uid):
            uid = None
            notes.append(
                "the Python runtime is not readable by an unprivileged user, so the "
                "code ran as root and the process limit was not enforced"
            )
        notes.insert(0, decision.reason)
        return cls(
            strength=decision.strength,
            bwrap=bwrap if decision.strength is Strength.BUBBLEWRAP else None,
            limits=limits or Limits(),
            run_as=uid,
            ro_paths=tuple(ro_paths),
            notes=notes,
            decision=decision,
        )

    def prepare(self, workdir: Path) -> None:
        """Make ``workdir`` writable by the sandbox uid; call after materialising files."""
        give_to(workdir, self.run_as)

    def run(
        self,
        command: list[str],
        workdir: Path,
        *,
        path_dirs: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        limits: Limits | None = None,
        network: bool = False,
        extra_ro_paths: Iterable[str] = (),
    ) -> SandboxResult:
        """Run ``command`` with ``workdir`` as its only writable place; never raises on failure.

        ``network=True`` is only honoured under bubblewrap for steps that run no project
        code (the dependency install); without bubblewrap the host network is always
        visible, which ``Strength.RLIMITS_ONLY`` already reports.
        """
        limits = limits or self.limits
        workdir = workdir.resolve()
        full_env = sandbox_env(list(path_dirs), env)
        if self.strength is Strength.BUBBLEWRAP:
            assert self.bwrap is not None
            argv = bwrap_argv(
                self.bwrap,
                command,
                workdir=workdir,
                env=full_env,
                ro_paths=[*self.ro_paths, *extra_ro_paths],
                network=network,
                drop_to=self.run_as,
                tmp_bytes=limits.tmp_bytes,
            )
            popen_env: dict[str, str] = {"PATH": "/usr/bin:/bin"}
        else:
            argv = list(command)
            popen_env = full_env
        baseline = processes_of_uid(self.run_as if self.run_as is not None else os.getuid())
        hook = preexec_hook(rlimit_pairs(limits, nproc_baseline=baseline))
        ids: dict[str, object] = {}
        if self.run_as is not None and self.strength is Strength.RLIMITS_ONLY:
            ids = {"user": self.run_as, "group": self.run_as, "extra_groups": []}
        logs = Path(tempfile.mkdtemp(prefix="shunter-sbx-log-"))
        out_path, err_path = logs / "stdout", logs / "stderr"
        started = time.monotonic()
        timed_out = False
        try:
            with out_path.open("wb") as out, err_path.open("wb") as err:
                try:
                    proc = subprocess.Popen(  # type: ignore[call-overload]
                        argv,
                        cwd=str(workdir),
                        env=popen_env,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=err,
                        start_new_session=True,
                        preexec_fn=hook,
                        close_fds=True,
                        **ids,
                    )
                except OSError as exc:
                    raise SandboxError(f"cannot start {command[0]!r}: {exc.strerror}") from None
                try:
                    code: int | None = proc.wait(timeout=limits.wall_seconds)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    _kill_tree(proc)
                    code = None
            seconds = time.monotonic() - started
            killed_by = _killed_by(code, timed_out, limits, bwrap=self.bwrap is not None)
            return SandboxResult(
                command=list(command),
                exit_code=code,
                stdout_tail=_tail(out_path),
                stderr_tail=_tail(err_path),
                timed_out=timed_out,
                killed_by=killed_by,
                strength=self.strength,
                seconds=seconds,
            )
        finally:
            for path in (out_path, err_path):
                path.unlink(missing_ok=True)
            logs.rmdir()


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group; under bubblewrap that also tears down the PID namespace."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _killed_by(code: int | None, timed_out: bool, limits: Limits, *, bwrap: bool) -> str | None:
    if timed_out:
        return f"the wall-clock timeout ({limits.wall_seconds:g}s)"
    if code is None:
        return None
    signum: int | None = None
    if code < 0:
        signum = -code
    elif bwrap and code > 128 and code - 128 in _SIGNAL_MEANING:
        signum = code - 128  # bwrap reports a child killed by a signal as 128 + signum
    if signum is None:
        return None
    meaning = _SIGNAL_MEANING.get(signum, f"signal {signum}")
    if signum == signal.SIGXCPU:
        meaning = f"the CPU time limit ({limits.cpu_seconds}s)"
    return meaning
