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
import posixpath
import re
import shutil
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

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


def declared_requirements(
    root: Path, projects: Sequence[str] = (), workspace: Iterable[str] = ()
) -> DeclaredRequirements:
    """Requirements from ``requirements*.txt`` (not docs) and ``pyproject.toml``.

    ``[project].dependencies`` and the test extras count; ``setup.py`` is never executed to
    find ``install_requires``, so such projects are reported as unsupported instead.

    The repository root is read, and in a monorepo also each folder of ``projects`` (the
    changed modules' packages: ``packages/a/pyproject.toml`` names what ``a``'s tests
    import). A dependency on a package of the repository itself (any project folder of
    ``workspace``, or one read here) is not fetched from the index: its source is on
    ``PYTHONPATH``, and the index's release of that name is another code than the PR's.
    """
    out = DeclaredRequirements()
    seen: set[str] = set()
    folders = list(dict.fromkeys(["", *projects]))
    own = {_canonical(name) for folder in {*folders, *workspace} if (name := _project_name(root, folder))}
    for folder in folders:
        _folder_requirements(root, folder, own, seen, out)
    return out


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject(root: Path, folder: str) -> tuple[str, dict[str, Any] | None, str | None]:
    """``folder``'s ``pyproject.toml``: its repository path, its ``[project]`` table (None
    when there is no such file), and why it could not be read."""
    rel = f"{folder}/pyproject.toml" if folder else "pyproject.toml"
    path = root / rel
    if not _safe_file(root, rel):
        return rel, None, None
    try:
        table = tomllib.loads(path.read_text(errors="replace")).get("project", {})
    except tomllib.TOMLDecodeError as exc:
        return rel, {}, f"not valid TOML ({exc})"
    return rel, table if isinstance(table, dict) else {}, None


def _safe_file(root: Path, rel: str) -> bool:
    """A regular file inside ``root`` (a PR can plant a link to a host file)."""
    path = root / rel
    return path.is_file() and path.resolve().is_relative_to(root.resolve())


def _project_name(root: Path, folder: str) -> str:
    _rel, table, _problem = _pyproject(root, folder)
    name = (table or {}).get("name")
    return name if isinstance(name, str) else ""


def _folder_requirements(
    root: Path, folder: str, own: set[str], seen: set[str], out: DeclaredRequirements
) -> None:
    """One project folder's ``requirements*.txt`` and ``pyproject.toml`` into ``out``."""
    prefix = f"{folder}/" if folder else ""
    had_sources = len(out.sources)
    base = root / folder if folder else root
    if not base.is_dir():
        return
    for path in sorted(base.glob("requirements*.txt")):
        if "doc" not in path.name.lower():
            _requirement_lines(root, f"{prefix}{path.name}", seen, out)
    rel, project, problem = _pyproject(root, folder)
    if problem:
        out.unsupported.append(f"{rel}: {problem}")
    if project:
        out.sources.append(rel)
        deps = list(project.get("dependencies", []) or [])
        extras = project.get("optional-dependencies", {}) or {}
        for name in TEST_EXTRAS:
            deps += list(extras.get(name, []) or [])
        for dep in deps:
            # the same rule as requirements files: a direct URL here would make the install
            # step (which has the host network) fetch from wherever the PR says
            requirement, why = index_requirement(str(dep))
            if requirement is None:
                out.unsupported.append(f"{rel}: {dep} ({why})")
                continue
            if _canonical(Requirement(requirement).name) in own:
                continue  # "pkg[extra]" self-references and the workspace's own packages
            out.requirements.append(requirement)
    elif project is None and (base / "setup.py").is_file() and len(out.sources) == had_sources:
        out.unsupported.append(f"{prefix}setup.py: install_requires is not read (it would run code)")


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


def write_metadata_shim(root: Path, projects: Sequence[str] = ()) -> str | None:
    """Make ``importlib.metadata.version(<project>)`` work without installing the project.

    Many packages read their own version from installed metadata at import time. Building
    and installing the project would run its build backend, which needs the network the
    test sandbox does not have; a minimal ``.dist-info`` (name and version only, no code)
    on ``PYTHONPATH`` is what an editable install would provide for that call. One is
    written for the root's ``pyproject.toml`` and for each folder of ``projects`` (a
    monorepo's packages). Returns the directory to add to ``PYTHONPATH``, or None when no
    project declares a name.
    """
    written = False
    for folder in dict.fromkeys(["", *projects]):
        _rel, project, _problem = _pyproject(root, folder)
        name = str((project or {}).get("name") or "")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}", name):
            continue
        version = str((project or {}).get("version") or "0.0.0+shunter")
        if not re.fullmatch(r"[A-Za-z0-9.+!_-]{1,64}", version):
            version = "0.0.0+shunter"
        folder_path = root / META_DIR / f"{re.sub(r'[-.]+', '_', name)}-{version}.dist-info"
        folder_path.mkdir(parents=True, exist_ok=True)
        (folder_path / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        written = True
    return str(root / META_DIR) if written else None


SCM_VERSION_FILE = """\
# written by Shunter in place of the file setuptools-scm (or hatch-vcs) writes at build
# time, which is not in git: the project is not built here
__version__ = version = {version!r}
__version_tuple__ = version_tuple = {version_tuple!r}
"""


def _table(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    """``data[k1][k2]...``, or an empty table where a key is missing or not a table."""
    for key in keys:
        value = data.get(key)
        data = value if isinstance(value, dict) else {}
    return data


def _vcs_version_files(folder: str, pyproject: dict[str, Any]) -> list[str]:
    """The version files ``pyproject`` tells setuptools-scm or hatch-vcs to write, as
    repository paths (they are relative to the project's folder)."""
    scm = _table(pyproject, "tool", "setuptools_scm")
    vcs = _table(pyproject, "tool", "hatch", "build", "hooks", "vcs")
    named = [scm.get("version_file"), scm.get("write_to"), vcs.get("version-file")]
    prefix = f"{folder}/" if folder else ""
    out = []
    for name in named:
        if isinstance(name, str) and name.endswith(".py"):
            path = posixpath.normpath(f"{prefix}{name}")
            if not path.startswith(("../", "/")) and path != "..":
                out.append(path)
    return list(dict.fromkeys(out))


def write_vcs_version_files(root: Path, projects: Sequence[str] = ()) -> list[str]:
    """Write the ``_version.py`` files a build would generate and git does not hold;
    returns their paths.

    isodate 0.7 names ``src/isodate/version.py`` in ``[tool.setuptools_scm]`` and imports
    it in its ``__init__``: with the project not built, every test failed with "No module
    named 'isodate.version'", and nothing was measured. A file the tree has is left alone.
    """
    written = []
    for folder in dict.fromkeys(["", *projects]):
        rel = f"{folder}/pyproject.toml" if folder else "pyproject.toml"
        if not _safe_file(root, rel):
            continue
        try:
            data = tomllib.loads((root / rel).read_text(errors="replace"))
        except tomllib.TOMLDecodeError:
            continue
        version = str(_table(data, "project").get("version") or "0.0.0+shunter")
        parts = tuple(int(p) if p.isdigit() else p for p in re.split(r"[.+]", version))
        for path in _vcs_version_files(folder, data):
            if (root / path).exists() or (root / path).is_symlink():
                continue
            hostfs.write_file(root, path, SCM_VERSION_FILE.format(version=version, version_tuple=parts))
            written.append(path)
    return written


def _last_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or ["pip failed without a message"])[-1][:300]
