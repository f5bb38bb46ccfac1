"""One config file → validated settings or a list of problems at ``file:line:col``.

Each file (the repository's, the organisation's, every preset and every ``extends``
target) is validated on its own, so a mistake is reported in the file that holds it at the
line and column where it is. A file with any problem contributes nothing: half a policy is
more surprising than the last good one.
"""

from __future__ import annotations

import hashlib
import re
import types
from dataclasses import dataclass, field
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from bot.errors import ConfigError
from bot.policies.safe_yaml import Path, YamlDocument, parse_yaml
from bot.policies.schema import ShunterConfig, suggest

CONFIG_PATH = ".github/shunter.yml"
_SECRET_KEY = re.compile(r"^(api[_-]?key|key|(access[_-]?)?token|secret|password|passwd|credentials?)$", re.I)
_QUOTED = re.compile(r"'([^']*)'")


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with one config file, where a person can find it."""

    file: str
    line: int
    column: int
    message: str
    source: str = "repo"
    """The layer it belongs to: repo, org, preset:NAME or owner/repo:path."""

    def render(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


@dataclass(frozen=True)
class ParsedConfig:
    """One file after parsing and validation; ``data`` holds only the keys it sets."""

    file: str
    source: str
    blob_sha: str
    data: dict[str, Any] | None
    problems: tuple[ConfigProblem, ...] = ()
    extends_at: tuple[tuple[int, int], ...] = field(default=())
    """Line/column of each ``extends`` entry, to report a missing or cyclic one there."""
    warnings: tuple[ConfigProblem, ...] = ()
    """Valid settings that do not do what they seem to (:func:`config_warnings`)."""

    @property
    def ok(self) -> bool:
        return self.data is not None and not self.problems

    @property
    def extends(self) -> list[str]:
        return list((self.data or {}).get("extends", []))

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "blob_sha": self.blob_sha,
            "data": self.data,
            "problems": [[p.line, p.column, p.message] for p in self.problems],
            "extends_at": [list(p) for p in self.extends_at],
            "warnings": [[p.line, p.column, p.message] for p in self.warnings],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any], *, source: str) -> ParsedConfig:
        file = raw["file"]
        return cls(
            file=file,
            source=source,
            blob_sha=raw["blob_sha"],
            data=raw["data"],
            problems=tuple(ConfigProblem(file, ln, col, msg, source) for ln, col, msg in raw["problems"]),
            extends_at=tuple((ln, col) for ln, col in raw["extends_at"]),
            warnings=tuple(
                ConfigProblem(file, ln, col, msg, source) for ln, col, msg in raw.get("warnings", ())
            ),
        )


def git_blob_sha(content: bytes) -> str:
    """The id git (and GitHub's contents API) gives a blob: a cache key shared with GitHub."""
    header = f"blob {len(content)}\0".encode()
    return hashlib.sha1(header + content, usedforsecurity=False).hexdigest()


def parse_config(
    content: bytes | str,
    *,
    file: str = CONFIG_PATH,
    source: str = "repo",
    blob_sha: str | None = None,
) -> ParsedConfig:
    """Parse and validate one file; never raises for bad content (problems say what is bad)."""
    raw = content.encode("utf-8") if isinstance(content, str) else content
    sha = blob_sha or git_blob_sha(raw)
    try:
        doc = parse_yaml(raw, path=file)
    except ConfigError as exc:
        problems = tuple(ConfigProblem(file, ln, col, msg, source) for ln, col, msg in exc.problems)
        return ParsedConfig(file, source, sha, None, problems)
    try:
        model = ShunterConfig.model_validate(doc.data)
    except ValidationError as exc:
        return ParsedConfig(file, source, sha, None, tuple(describe_errors(exc, doc, file, source)))
    data = model.model_dump(mode="json", exclude_unset=True)
    extends_at = tuple(doc.locate(("extends", i)) for i in range(len(model.extends)))
    return ParsedConfig(file, source, sha, data, (), extends_at, config_warnings(data, doc, file, source))


UNSCHEDULED = "`schedule` is accepted but Shunter does not run stages on a schedule yet; remove it"


def config_warnings(
    data: dict[str, Any], doc: YamlDocument, file: str, source: str = "repo"
) -> tuple[ConfigProblem, ...]:
    """Settings that validate but would mislead a maintainer, at their line: ``schedule`` in
    a stage's ``on`` (nothing plans stages on a schedule). ``data``: the keys the file sets."""
    warnings = []
    for stage, settings in (data.get("stages") or {}).items():
        triggers = settings.get("on") or [] if isinstance(settings, dict) else []
        for index, trigger in enumerate(triggers):
            if trigger == "schedule":
                line, column = doc.locate(("stages", stage, "on", index))
                message = f"stages.{stage}.on: {UNSCHEDULED}"
                warnings.append(ConfigProblem(file, line, column, message, source))
    return tuple(warnings)


def load_config(content: bytes | str, *, file: str = CONFIG_PATH) -> ShunterConfig:
    """The config in one file (no merging), or ``ConfigError`` listing every problem."""
    parsed = parse_config(content, file=file)
    if not parsed.ok:
        raise config_error(parsed.problems, file=file)
    return ShunterConfig.model_validate(parsed.data)


def config_error(problems: tuple[ConfigProblem, ...] | list[ConfigProblem], *, file: str) -> ConfigError:
    first = problems[0].render() if problems else f"{file}: invalid"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return ConfigError(
        first + more,
        [(p.line, p.column, p.message) for p in problems],
        path=file,
    )


# -- pydantic errors -> people's sentences ---------------------------------------------------


def describe_errors(exc: ValidationError, doc: YamlDocument, file: str, source: str) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    seen: set[tuple[int, int, str]] = set()
    for error in exc.errors(include_url=False):
        path = _data_path(doc.data, error["loc"])
        line, column, message = _describe(error, path, doc)
        if (line, column, message) not in seen:
            seen.add((line, column, message))
            problems.append(ConfigProblem(file, line, column, message, source))
    problems.sort(key=lambda p: (p.line, p.column))
    return problems


def _data_path(data: Any, loc: tuple[Any, ...]) -> Path:
    """The part of pydantic's ``loc`` that names real keys/indices of the file's data."""
    out: list[str | int] = []
    cur = data
    for seg in loc:
        in_dict = isinstance(cur, dict) and isinstance(seg, str) and seg in cur
        in_list = isinstance(cur, list) and isinstance(seg, int) and 0 <= seg < len(cur)
        if in_dict or in_list:
            out.append(seg)
            cur = cur[seg]
    return tuple(out)


def dotted(path: Path) -> str:
    text = ""
    for seg in path:
        text += f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if text else seg)
    return text


def _describe(error: Any, path: Path, doc: YamlDocument) -> tuple[int, int, str]:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    where = dotted(path) or "the top level"
    secret_area = bool(path) and path[0] == "llm"  # never echo what was written there
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        parent = path[:-1]
        line, column = doc.locate(path, key=True)
        allowed = allowed_keys(parent)
        if _SECRET_KEY.match(key):
            return (
                line,
                column,
                f"'{key}' looks like a secret; secrets never go in the config file: put it in"
                " an environment variable of the Shunter installation and set"
                " llm.api_key_env to that variable's name",
            )
        place = f"in {dotted(parent)}" if parent else "at the top level"
        hint = suggest(key, allowed)
        if not hint and allowed:
            hint = f" (expected one of: {', '.join(sorted(allowed))})"
        return line, column, f"unknown key '{key}' {place}{hint}"
    if "key" in ctx:  # our validators name the offending mapping key
        line, column = doc.locate((*path, str(ctx["key"])), key=True)
        return line, column, f"{where}: {error['msg']}"
    line, column = doc.locate(path)
    value = error.get("input")
    if path == ("version",):
        return line, column, f"version {value!r} is not supported; this Shunter reads version 1"
    if kind in ("literal_error", "enum"):
        expected = _QUOTED.findall(str(ctx.get("expected", ""))) or [str(ctx.get("expected"))]
        hint = suggest(str(value), expected) if isinstance(value, str) else ""
        shown = "" if secret_area else f" {value!r}"
        return line, column, f"{where}:{shown} is not one of {', '.join(expected)}{hint}"
    message = str(error["msg"]).removeprefix("Value error, ")
    if (
        not secret_area
        and kind not in ("extends_ref", "regex", "template")
        and isinstance(value, str | int | float)
        and not isinstance(value, bool)
        and len(str(value)) <= 60
    ):
        message += f" (got {value!r})"
    return line, column, f"{where}: {message}"


def allowed_keys(path: Path) -> list[str]:
    """Field names of the model at ``path`` (dict levels skip one key, like rules.<cmd>)."""
    model: Any = ShunterConfig
    i = 0
    while i < len(path):
        seg = path[i]
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        info = model.model_fields.get(str(seg))
        if info is None:
            return []
        model, skip = _unwrap(info.annotation)
        i += 1 + skip
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _unwrap(annotation: Any) -> tuple[Any, int]:
    """The model type inside ``X | None`` or ``dict[str, X]`` (and how many keys to skip)."""
    origin = get_origin(annotation)
    if origin is dict:
        return get_args(annotation)[1], 1
    if origin is Union or origin is types.UnionType:
        for arg in get_args(annotation):
            if arg is not type(None):
                return _unwrap(arg)
    return annotation, 0
