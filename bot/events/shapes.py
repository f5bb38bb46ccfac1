"""The fields of a webhook payload that Shunter's handlers read, and whether a delivery has them.

GitHub always sends these fields, with these types. A delivery that lacks one (made by
hand, by a proxy or a replay tool that holds the webhook secret) used to be stored with
202, and the events worker's handler then raised KeyError or TypeError on it: a crashed
job in rq's failed registry and no word to the sender. The front door now answers such a
delivery 400 naming the first bad field, and the dispatcher drops one already queued with
the same message.

Each model describes only what the handlers in ``bot/events/`` and what they call in
``bot/pipeline/`` (``facts``, ``planning``, ``commands``) read, with the type they need;
every other field is ignored, so GitHub adding, dropping or reshaping the rest changes
nothing here, and validation stays cheap on the front door's hot path. Fields GitHub sends
as null or leaves out (a deleted fork's ``head.repo``, a review submitted without text,
a comment whose author was deleted, a check suite with no pull request) stay optional,
exactly as the handlers already tolerate them. Events and actions no handler is
registered for are not looked at: ``problems`` answers None for them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, StrictInt, ValidationError
from pydantic_core import PydanticCustomError

MALFORMED = "malformed payload"


class Shape(BaseModel):
    """A part of a payload: the fields a handler reads; the rest is ignored, not kept."""

    model_config = ConfigDict(extra="ignore")


# ------------------------------------------------------------------------- shared parts
class Installation(Shape):
    # a real JSON integer: ``Delivery.from_payload`` keeps no other, and the handlers then
    # mint a token for installation 0 (or drop the config cache of installation 0)
    id: StrictInt


class Account(Shape):
    """Logged only (``login``), but it must be an object to be read at all."""


class InstallationWithAccount(Installation):
    account: Account | None = None


def _owner_and_name(full_name: str) -> str:
    owner, _, name = full_name.partition("/")
    if not owner or not name or "/" in name:
        raise PydanticCustomError("owner_name", 'expected "owner/name"')
    return full_name


class Repository(Shape):
    # split into owner and name everywhere (``Target.owner``/``name``, REST paths)
    full_name: Annotated[str, AfterValidator(_owner_and_name)]
    clone_url: str | None = None
    default_branch: str | None = None


class User(Shape):
    """A person or bot: ``login`` is compared, suffix-matched (``[bot]``) and quoted."""

    login: str = ""


class OnRepository(Shape):
    """What every repository event Shunter acts on carries: the App's installation (its
    token does the work) and the repository."""

    installation: Installation
    repository: Repository
    sender: User | None = None


# ------------------------------------------------------------------------ pull requests
class Ref(Shape):
    ref: str | None = None


class HeadRepo(Shape):
    full_name: str | None = None
    clone_url: str | None = None


class Head(Shape):
    sha: str
    ref: str | None = None
    repo: HeadRepo | None = None  # null when the fork the pull request came from was deleted


class Base(Shape):
    ref: str


class Label(Shape):
    name: str = ""


class PullRequest(Shape):
    """Everything ``facts.from_pull_request`` turns into a ``Target``."""

    number: StrictInt
    head: Head
    base: Base
    state: str = "open"
    title: str | None = None
    body: str | None = None  # null when the description is empty
    user: User | None = None
    labels: list[Label] | None = None


class PullRequestEvent(OnRepository):
    pull_request: PullRequest


class MergeGroupCommit(Shape):
    message: str = ""


class MergeGroup(Shape):
    head_sha: str
    head_ref: str | None = None
    base_ref: str | None = None
    head_commit: MergeGroupCommit | None = None


class MergeGroupEvent(OnRepository):
    merge_group: MergeGroup


# ------------------------------------------------------------------------------- checks
class PullRef(Shape):
    """A pull request as check suites and check runs list it (empty for a fork's branch)."""

    number: StrictInt
    head: Ref | None = None
    base: Ref | None = None


class CheckSuite(Shape):
    head_sha: str
    pull_requests: list[PullRef] | None = None


class CheckSuiteEvent(OnRepository):
    check_suite: CheckSuite


class RunSuite(Shape):
    """A check run's suite: only its pull requests are read (GitHub may send its
    ``head_sha`` as null; the run's own ``head_sha`` is the commit re-run)."""

    pull_requests: list[PullRef] | None = None


class App(Shape):
    """Only its ``id`` is compared with Shunter's; it must be an object to be read."""


class CheckRun(Shape):
    id: StrictInt  # finds the pull request Shunter recorded when GitHub lists none (forks)
    name: str
    head_sha: str
    check_suite: RunSuite | None = None
    pull_requests: list[PullRef] | None = None
    app: App | None = None


class RequestedAction(Shape):
    identifier: str | None = None  # unknown buttons are answered as such


class CheckRunEvent(OnRepository):
    check_run: CheckRun
    requested_action: RequestedAction | None = None


# ----------------------------------------------------------------------------- comments
class Comment(Shape):
    """A comment, or a submitted review, whose text may hold ``/shunter`` commands."""

    id: StrictInt
    body: str | None = None  # a review submitted without text has a null body
    user: User | None = None  # null when the author's account was deleted


class Issue(Shape):
    number: StrictInt


class PullNumber(Shape):
    number: StrictInt


class IssueCommentEvent(OnRepository):
    issue: Issue
    comment: Comment


class ReviewCommentEvent(OnRepository):
    pull_request: PullNumber
    comment: Comment


class ReviewEvent(OnRepository):
    pull_request: PullNumber
    review: Comment


# --------------------------------------------------------------- pushes and installations
class PushCommit(Shape):
    added: list[str] | None = None
    modified: list[str] | None = None
    removed: list[str] | None = None


class PushEvent(OnRepository):
    commits: list[PushCommit] | None = None


class InstallationEvent(Shape):
    installation: InstallationWithAccount


class RepositoryEvent(OnRepository):
    """``repository`` renamed, transferred, deleted, archived, edited: ``changes`` says
    what the name, owner or default branch was (read defensively: it varies by action)."""

    changes: dict[str, Any] | None = None


# ------------------------------------------------------------------------------- table
ANY_ACTION = None

# (event, action) as the routers in bot/events/ register them; ANY_ACTION for a handler
# registered for the whole event. tests/events checks this against the routers themselves.
SHAPES: dict[tuple[str, str | None], type[Shape]] = {
    **{
        ("pull_request", action): PullRequestEvent
        for action in (
            "opened", "reopened", "synchronize", "ready_for_review", "labeled", "unlabeled", "edited",
            "closed",
        )
    },
    ("merge_group", "checks_requested"): MergeGroupEvent,
    ("check_suite", "requested"): CheckSuiteEvent,
    ("check_suite", "rerequested"): CheckSuiteEvent,
    ("check_run", "rerequested"): CheckRunEvent,
    ("check_run", "requested_action"): CheckRunEvent,
    ("issue_comment", "created"): IssueCommentEvent,
    ("issue_comment", "edited"): IssueCommentEvent,
    ("pull_request_review_comment", "created"): ReviewCommentEvent,
    ("pull_request_review_comment", "edited"): ReviewCommentEvent,
    ("pull_request_review", "submitted"): ReviewEvent,
    ("pull_request_review", "edited"): ReviewEvent,
    ("push", ANY_ACTION): PushEvent,
    ("installation", ANY_ACTION): InstallationEvent,
    ("installation_repositories", ANY_ACTION): InstallationEvent,
    ("repository", ANY_ACTION): RepositoryEvent,
}
_ROUTED_BY_ACTION = frozenset(event for event, action in SHAPES if action is not ANY_ACTION)


def problems(event: str, payload: dict[str, Any]) -> str | None:
    """Why the handlers of ``event`` cannot use ``payload``, naming the first bad field's
    path ("malformed payload: pull_request.head.sha: field required"); None when they can,
    or when no handler is registered for the event and its action."""
    action = payload.get("action")
    if event in _ROUTED_BY_ACTION and action is not None and not isinstance(action, str):
        # the router looks the action up in a dict: a list or an object raises TypeError
        return f"{MALFORMED}: action: expected a string, got {_json_type(action)}"
    if not isinstance(action, str):
        action = ANY_ACTION  # (event, [1]) cannot even be looked up
    shape = SHAPES.get((event, action)) or SHAPES.get((event, ANY_ACTION))
    if shape is None:
        return None
    try:
        shape.model_validate(payload)
    except ValidationError as exc:
        return describe(exc)
    return None


def describe(exc: ValidationError) -> str:
    """The first error of ``exc`` as one line: the field's path, what is wrong, and the
    JSON type found instead (never the value: it may be large, or someone's secret)."""
    first = exc.errors(include_url=False, include_context=False)[0]
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]).lstrip(".")
    kind = first["type"]
    if kind == "missing":
        message = "field required"
    elif kind in _EXPECTED:
        message = f"expected {_EXPECTED[kind]}, got {_json_type(first['input'])}"
    else:
        message = first["msg"]
    return f"{MALFORMED}: {path or 'body'}: {message}"


# pydantic's error types, in JSON's words (its own messages name Python types and classes)
_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "list_type": "an array",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "dict_type": "an object",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
