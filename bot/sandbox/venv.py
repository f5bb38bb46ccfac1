"""The per-repository dependency environment tests run in, built inside the sandbox.

Installing needs the package index, and the sandbox has no network, so the install is a
separate step with its own, stated guarantee: it runs pip only (the worker's trusted pip,
not project code), with ``--only-binary :all:`` so no ``setup.py`` or build backend from
a downloaded package ever executes, under bubblewrap with the host network but an
allow-listed environment (no tokens), a read-only system, the venv as its only writable
place, a wall-clock limit and a size limit. Project code then runs in the test step with
no network at all. Requirements the worker's own environment already satisfies (pytest,
coverage, hypothesis...) are not installed again: the venv sees the worker's
site-packages read-only through a ``.pth`` bridge placed after its own.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from bot.sandbox import hostfs
from bot.sandbox.limits import MIB, Limits
from bot.sandbox.runner import Sandbox, give_to

TEST_EXTRAS = ("test", "tests", "testing")
PIP_ENV_KEYS = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_CERT",
    "PIP_TRUSTED_HOST",
    "PIP_CONFIG_FILE",
    "PIP_DEFAULT_TIMEOUT",
    "PIP_NO_INDEX",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
_COMPLETE = ".shunter-complete"
_NOT_FOUND = re.compile(r"(?:No matching distribution found for|satisfies the requirement) ([^\s(]+)")


@dataclass(frozen=True)
class DeclaredRequirements:
    """What a repository says it needs, and what we refused to honour (with why)."""

    requirements: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class VenvResult:
    ok: bool
    python: str
    """The interpreter sandboxed commands should use."""
    ro_paths: list[str] = field(default_factory=list)
    """Paths to bind read-only so that interpreter works inside the sandbox."""
    installed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    note: str = ""
    cached: bool = False


_IGNORED = "options, URLs and local paths are ignored: packages come only from the operator's index"
# pip treats a requirement whose name ends like an archive as a local file to install
_ARCHIVE_SUFFIXES = (
    ".whl",
    ".zip",
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.bz2",
    ".tbz",
    ".tar.xz",
    ".txz",
    ".tlz",
    ".tar.lz",
    ".tar.lzma",
)


def index_requirement(line: str) -> tuple[str | None, str]:
    """The requirement as pip should see it, or None and why it is refused.

    The install step runs with the host network, so everything handed to pip must resolve
    through the operator's index only. A pull request (possibly from an untrusted fork)
    controls these strings: a direct reference (``name @ http://...``, ``file:``, VCS), a
    pip option (``--index-url``, ``--extra-index-url``, ``-f``, ``-e``, ``-c``...) or a local
    path would let it make the worker fetch any URL (request forgery against internal
    services) and install a wheel the operator never vetted. Only a plain PEP 508
    requirement (name, extras, version specifiers, markers) passes, and it is returned in
    packaging's canonical form so pip parses exactly what was checked.
    """
    text = line.strip()
    if not text or text.startswith("-") or "://" in text or text.startswith((".", "/", "~", "\\")):
        return None, _IGNORED
    try:
        req = Requirement(text)
    except InvalidRequirement:
        return None, "not a valid requirement"
    if req.url is not None:
        return None, _IGNORED
    if req.name.lower().endswith(_ARCHIVE_SUFFIXES):
        return None, _IGNORED
    return str(req), ""


def _requirement_lines(root: Path, rel: str, seen: set[str], out: DeclaredRequirements) -> None:
    path = (root / rel).resolve()
    if rel in seen or not path.is_relative_to(root.resolve()) or not path.is_file():
        return
    seen.add(rel)
    out.sources.append(rel)
    for raw in path.read_text(errors="replace").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            nested = line.split(maxsplit=1)[1]
            _requirement_lines(root, str(Path(rel).parent / nested), seen, out)
            continue
        requirement, why = index_requirement(line)
        if requirement is None:
            out.unsupported.append(f"{rel}: {line} ({why})")
            continue
        out.requirements.append(requirement)


def declared_requirements(root: Path) -> DeclaredRequirements:
    """Requirements from ``requirements*.txt`` (not docs) and ``pyproject.toml``.

    ``[project].dependencies`` and the test extras count; ``setup.py`` is never executed to
    find ``install_requires``, so such projects are reported as unsupported instead.
    """
    out = DeclaredRequirements()
    seen: set[str] = set()
    for path in sorted(root.glob("requirements*.txt")):
        if "doc" not in path.name.lower():
            _requirement_lines(root, path.name, seen, out)
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            project = tomllib.loads(pyproject.read_text(errors="replace")).get("project", {})
        except tomllib.TOMLDecodeError as exc:
            out.unsupported.append(f"pyproject.toml: not valid TOML ({exc})")
            project = {}
        if project:
            out.sources.append("pyproject.toml")
        deps = list(project.get("dependencies", []) or [])
        extras = project.get("optional-dependencies", {}) or {}
        for name in TEST_EXTRAS:
            deps += list(extras.get(name, []) or [])
        own_name = str(project.get("name", "")).lower()
        for dep in deps:
            # the same rule as requirements files: a direct URL here would make the install
            # step (which has the host network) fetch from wherever the PR says
            requirement, why = index_requirement(str(dep))
            if requirement is None:
                out.unsupported.append(f"pyproject.toml: {dep} ({why})")
                continue
            if Requirement(requirement).name.lower() == own_name:
                continue  # "pkg[extra]" self-references are satisfied by the source tree
            out.requirements.append(requirement)
    elif (root / "setup.py").is_file() and not out.sources:
        out.unsupported.append("setup.py: install_requires is not read (it would run code)")
    return out


def unsatisfied(requirements: list[str]) -> list[str]:
    """The requirements the worker's environment does not already satisfy."""
    missing: list[str] = []
    for line in requirements:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            missing.append(line)
            continue
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            missing.append(line)
    return missing


def _dir_size(path: Path) -> int:
    total = 0
    for base, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                continue
    return total


def _local_index_paths(env: dict[str, str]) -> list[str]:
    """Local directories pip may read (``file://`` indexes, find-links) to bind read-only."""
    paths: list[str] = []
    for value in env.values():
        for token in value.split():
            candidate = token.removeprefix("file://")
            if candidate.startswith("/") and os.path.exists(candidate):
                paths.append(candidate)
    for conf in ("/etc/pip.conf", "/etc/xdg/pip/pip.conf"):
        if os.path.exists(conf):
            for token in Path(conf).read_text(errors="replace").split():
                candidate = token.removeprefix("file://")
                if candidate.startswith("/") and os.path.isdir(candidate):
                    paths.append(candidate)
    # a file:// index links to files beside it (../../files/...): bind the parent too
    return sorted({str(Path(p).parent) if p.endswith("simple") else p for p in paths})


def _worker_site_dirs() -> list[str]:
    return [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]


def cache_key(missing: list[str]) -> str:
    material = "\n".join([sys.version, sys.prefix, *sorted(missing)])
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def ensure_venv(
    requirements: list[str],
    *,
    sandbox: Sandbox,
    cache_root: Path,
    time_limit: float = 300.0,
    size_limit: int = 500 * MIB,
) -> VenvResult:
    """A Python whose environment satisfies ``requirements``, reusing a cached venv.

    Returns ``ok=False`` with ``failed`` naming the requirements that could not be
    installed (and a note saying why); never raises for a bad requirement.
    """
    refused = [line for line in requirements if index_requirement(line)[0] is None]
    if refused:
        # declared_requirements already drops these; a caller passing one anyway must not
        # get a URL, option or path through to a pip that has the host network
        return VenvResult(
            ok=False,
            python=sys.executable,
            failed=refused,
            note=f"refused to install {', '.join(refused)[:300]}: only plain requirements "
            "are installed, from the operator's package index",
        )
    base_ro = _worker_site_dirs()
    missing = unsatisfied(requirements)
    if not missing:
        return VenvResult(ok=True, python=sys.executable, note="no extra dependencies needed")
    target = cache_root / cache_key(missing)
    python = str(target / "bin" / "python")
    if (target / _COMPLETE).is_file():
        return VenvResult(
            ok=True,
            python=python,
            ro_paths=[str(target)],
            installed=missing,
            cached=True,
            note=f"reused the cached environment for {len(missing)} dependencies",
        )
    cache_root.mkdir(parents=True, exist_ok=True)
    build = cache_root / f".build-{uuid.uuid4().hex[:12]}"
    try:
        subprocess.run(
            [
                getattr(sys, "_base_executable", sys.executable),
                "-m",
                "venv",
                "--without-pip",
                str(build),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        site = next((build / "lib").glob("python*/site-packages"))
        (site / "zz_shunter_worker_site.pth").write_text("\n".join(base_ro) + "\n")
        sandbox.prepare(build)
        pip_env = {k: os.environ[k] for k in PIP_ENV_KEYS if k in os.environ}
        command = [
            str(build / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--only-binary",
            ":all:",
            "--no-input",
            "--progress-bar",
            "off",
            "--no-cache-dir",
            "--retries",
            "1",
            "--no-warn-script-location",
            "--",  # nothing after this is read as a pip option, whatever it looks like
            *missing,
        ]
        limits = Limits(
            wall_seconds=time_limit,
            cpu_seconds=int(time_limit) + 1,
            file_size_bytes=size_limit,
            processes=64,
        )
        result = sandbox.run(
            command,
            build,
            env=pip_env,
            limits=limits,
            network=True,
            extra_ro_paths=_local_index_paths(pip_env),
        )
        size = _dir_size(build)
        if not result.ok:
            failed = sorted(set(_NOT_FOUND.findall(result.stderr_tail))) or missing
            detail = result.note if result.killed_by else _last_error(result.stderr_tail)
            return VenvResult(
                ok=False,
                python=python,
                failed=failed,
                note=f"could not install {', '.join(failed)}: {detail}",
            )
        if size > size_limit:
            return VenvResult(
                ok=False,
                python=python,
                failed=missing,
                note=f"the dependencies take {size // MIB} MiB, over the {size_limit // MIB} "
                "MiB limit for a test environment",
            )
        give_to(build, 0 if os.geteuid() == 0 else None)  # read-only to the sandbox uid now
        # the sandboxed install wrote into ``build``: never follow what it may have left there
        hostfs.write_file(build, _COMPLETE, "\n".join(missing) + "\n")
        try:
            build.rename(target)
        except OSError:
            if not (target / _COMPLETE).is_file():
                raise
        return VenvResult(
            ok=True,
            python=python,
            ro_paths=[str(target)],
            installed=missing,
            note=f"installed {len(missing)} dependencies in {result.seconds:.0f}s",
        )
    except (OSError, subprocess.SubprocessError, StopIteration) as exc:
        return VenvResult(
            ok=False,
            python=python,
            failed=missing,
            note=f"could not build the test environment: {exc}",
        )
    finally:
        if build.exists():
            shutil.rmtree(build, ignore_errors=True)


META_DIR = ".shunter/meta"


def write_metadata_shim(root: Path) -> str | None:
    """Make ``importlib.metadata.version(<project>)`` work without installing the project.

    Many packages read their own version from installed metadata at import time. Building
    and installing the project would run its build backend, which needs the network the
    test sandbox does not have; a minimal ``.dist-info`` (name and version only, no code)
    on ``PYTHONPATH`` is what an editable install would provide for that call. Returns the
    directory to add to ``PYTHONPATH``, or None when the project declares no name.
    """
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return None
    try:
        project = tomllib.loads(pyproject.read_text(errors="replace")).get("project", {})
    except tomllib.TOMLDecodeError:
        return None
    name = str(project.get("name") or "")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}", name):
        return None
    version = str(project.get("version") or "0.0.0+shunter")
    if not re.fullmatch(r"[A-Za-z0-9.+!_-]{1,64}", version):
        version = "0.0.0+shunter"
    folder = root / META_DIR / f"{re.sub(r'[-.]+', '_', name)}-{version}.dist-info"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return str(root / META_DIR)


def _last_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or ["pip failed without a message"])[-1][:300]
