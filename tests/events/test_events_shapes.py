"""The webhook payload shapes (bot/events/shapes.py): pure data in, one message out; no fakes.

A false "malformed" on a payload GitHub really sends would drop real events at the front
door, so besides the messages for bad payloads these tests check the shapes against the
routers (every routed event and action has one) and against GitHub's own published webhook
schema (every field required here is one GitHub always sends, and never as null).
"""

from __future__ import annotations

import copy
import re
import types
import typing
from typing import Any

import pytest
from pydantic import BaseModel

from bot.events.dispatch import router
from bot.events.shapes import ANY_ACTION, SHAPES, problems

REPO = {"full_name": "octo/demo", "clone_url": "https://github.com/octo/demo.git", "default_branch": "main"}
ON_REPO = {"installation": {"id": 42}, "repository": REPO, "sender": {"login": "alice", "type": "User"}}
PULL = {
    "number": 7, "state": "open", "title": "Bump", "body": None, "draft": False,
    "user": {"login": "alice", "type": "User"}, "labels": [{"name": "bug"}],
    "head": {"sha": "a" * 40, "ref": "feature", "repo": REPO}, "base": {"ref": "main", "repo": REPO},
}
COMMENT = {"id": 9, "body": "/shunter help", "user": {"login": "alice", "type": "User"}}
PULL_REF = {"number": 7, "head": {"ref": "feature"}, "base": {"ref": "main"}}
CHECK_RUN = {
    "id": 11, "name": "shunter/review", "head_sha": "a" * 40, "app": {"id": 1},
    "pull_requests": [PULL_REF], "check_suite": {"head_sha": "a" * 40, "pull_requests": [dict(PULL_REF)]},
}
GOOD: dict[tuple[str, str | None], dict[str, Any]] = {
    ("pull_request", "opened"): {"action": "opened", "pull_request": PULL, **ON_REPO},
    ("merge_group", "checks_requested"): {
        "action": "checks_requested", **ON_REPO,
        "merge_group": {"head_sha": "b" * 40, "head_ref": "refs/heads/gh-readonly-queue/main/pr-7-x",
                        "base_ref": "refs/heads/main", "head_commit": {"message": "Merge pull request #7"}},
    },
    ("check_suite", "requested"): {
        "action": "requested", **ON_REPO, "check_suite": {"head_sha": "a" * 40, "pull_requests": [PULL_REF]},
    },
    ("check_run", "requested_action"): {
        "action": "requested_action", "check_run": CHECK_RUN, "requested_action": {"identifier": "apply"}, **ON_REPO,
    },
    ("issue_comment", "created"): {
        "action": "created", "issue": {"number": 7, "pull_request": {"url": "u"}}, "comment": COMMENT, **ON_REPO,
    },
    ("pull_request_review_comment", "created"): {
        "action": "created", "pull_request": PULL, "comment": COMMENT, **ON_REPO,
    },
    ("pull_request_review", "submitted"): {"action": "submitted", "pull_request": PULL, "review": COMMENT, **ON_REPO},
    ("push", ANY_ACTION): {
        "ref": "refs/heads/main", "commits": [{"added": [], "modified": [".github/shunter.yml"], "removed": []}],
        **ON_REPO,
    },
    ("installation", ANY_ACTION): {
        "action": "deleted", "installation": {"id": 42, "account": {"login": "octo"}},
        "sender": {"login": "octo"},
    },
}


def with_change(payload: dict[str, Any], path: str, value: Any = ...) -> dict[str, Any]:
    """``payload`` with the field at dotted ``path`` set to ``value`` (removed when ...)."""
    changed = copy.deepcopy(payload)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node: Any = changed
    for part in parents:
        node = node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return changed


@pytest.mark.parametrize("key", list(GOOD), ids=lambda key: f"{key[0]}.{key[1]}")
def test_github_shaped_payloads_pass(key):
    assert problems(key[0], GOOD[key]) is None


@pytest.mark.parametrize(
    ("key", "path", "value", "message"),
    [
        (("pull_request", "opened"), "pull_request.head.sha", ..., "pull_request.head.sha: field required"),
        (("pull_request", "opened"), "pull_request.base", ..., "pull_request.base: field required"),
        (("pull_request", "opened"), "pull_request.head", "x", "pull_request.head: expected an object, got string"),
        (("pull_request", "opened"), "pull_request.labels.0.name", None,
         "pull_request.labels[0].name: expected a string, got null"),
        (("pull_request", "opened"), "pull_request.number", "7", "pull_request.number: expected an integer, got string"),
        (("pull_request", "opened"), "installation.id", ..., "installation.id: field required"),
        (("pull_request", "opened"), "installation.id", "42", "installation.id: expected an integer, got string"),
        (("pull_request", "opened"), "installation.id", True, "installation.id: expected an integer, got boolean"),
        (("pull_request", "opened"), "installation", ..., "installation: field required"),
        (("pull_request", "opened"), "repository.full_name", "demo", 'repository.full_name: expected "owner/name"'),
        (("pull_request", "opened"), "action", ["opened"], "action: expected a string, got array"),
        (("check_run", "requested_action"), "check_run.id", ..., "check_run.id: field required"),
        (("check_run", "requested_action"), "check_run.name", None, "check_run.name: expected a string, got null"),
        (("check_run", "requested_action"), "check_run.pull_requests.0.number", 7.5,
         "check_run.pull_requests[0].number: expected an integer, got number"),
        (("check_run", "requested_action"), "requested_action.identifier", ["apply"],
         "requested_action.identifier: expected a string, got array"),
        (("check_suite", "requested"), "check_suite.head_sha", ..., "check_suite.head_sha: field required"),
        (("merge_group", "checks_requested"), "merge_group.head_commit.message", None,
         "merge_group.head_commit.message: expected a string, got null"),
        (("issue_comment", "created"), "comment.body", 5, "comment.body: expected a string, got integer"),
        (("issue_comment", "created"), "issue.number", ..., "issue.number: field required"),
        (("issue_comment", "created"), "comment.user.login", None, "comment.user.login: expected a string, got null"),
        (("pull_request_review_comment", "created"), "comment.id", ..., "comment.id: field required"),
        (("pull_request_review", "submitted"), "review", [], "review: expected an object, got array"),
        (("push", ANY_ACTION), "commits.0.modified.0", 3, "commits[0].modified[0]: expected a string, got integer"),
        (("installation", ANY_ACTION), "installation.account", "octo",
         "installation.account: expected an object, got string"),
    ],
)
def test_a_bad_field_is_named_with_its_path(key, path, value, message):
    event = key[0]
    assert problems(event, with_change(GOOD[key], path, value)) == f"malformed payload: {message}"


def test_the_first_bad_field_is_named():
    payload = with_change(with_change(GOOD[("pull_request", "opened")], "pull_request.head.sha"), "installation.id")
    assert problems("pull_request", payload) == "malformed payload: installation.id: field required"


@pytest.mark.parametrize(
    ("key", "path", "value"),
    [
        (("pull_request", "opened"), "pull_request.head.repo", None),  # the fork was deleted
        (("pull_request", "opened"), "pull_request.body", None),  # no description
        (("pull_request", "opened"), "pull_request.user", None),
        (("pull_request", "opened"), "pull_request.labels", []),
        (("pull_request", "opened"), "sender", ...),
        (("issue_comment", "created"), "comment.body", ""),  # an empty comment
        (("issue_comment", "created"), "comment.user", None),  # a deleted account
        (("issue_comment", "created"), "issue.pull_request", ...),  # a plain issue's comment
        (("pull_request_review", "submitted"), "review.body", None),  # a review without text
        (("check_suite", "requested"), "check_suite.pull_requests", []),  # a fork's branch
        (("check_run", "requested_action"), "check_run.check_suite.head_sha", None),  # GitHub's schema allows it
        (("check_run", "requested_action"), "check_run.app", None),
        (("check_run", "requested_action"), "requested_action", ...),
        (("check_run", "requested_action"), "requested_action.identifier", None),
        (("merge_group", "checks_requested"), "merge_group.head_commit", None),
        (("push", ANY_ACTION), "commits", []),  # a force-push back to an older commit
        (("installation", ANY_ACTION), "installation.account", None),
    ],
)
def test_fields_github_may_leave_null_or_out_pass(key, path, value):
    assert problems(key[0], with_change(GOOD[key], path, value)) is None


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("pull_request", {"action": "assigned"}),  # no handler for assigning
        ("pull_request", {}),  # no action: no handler is registered for it either
        ("check_run", {"action": "completed", "check_run": 5}),
        ("check_suite", {"action": "completed"}),
        ("issues", {"action": "opened", "installation": "x"}),
        ("workflow_run", {"action": ["completed"]}),
        ("made_up", {"action": {"a": 1}}),
        ("ping", {"zen": "Keep it logically awesome."}),
    ],
)
def test_events_no_handler_reads_pass_untouched(event, payload):
    assert problems(event, payload) is None


def test_every_routed_event_and_action_has_a_shape_and_no_more():
    combined = router()
    routed = {(event, ANY_ACTION) for event in combined._shallow_routes}
    for event, keys in combined._deep_routes.items():
        assert set(keys) == {"action"}, event
        routed |= {(event, action) for action in keys["action"]}
    assert routed == set(SHAPES)


# ---------------------------------------------------------------- GitHub's published schema
githubkit_schemas = pytest.importorskip("githubkit_schemas")

# where Shunter needs more than GitHub's generic schema promises, and why that is safe
BEYOND_THE_SCHEMA = {
    # the schema serves repository webhooks too; every delivery to a GitHub App carries
    # the installation, and without one no handler can act (its token does the work)
    **{(event, ("installation",)): "App deliveries" for event, _ in SHAPES},
    # the handler needs the repository (it crashed with KeyError without one); a merge
    # queue always belongs to one
    ("merge_group", ("repository",)): "merge queues",
}


def _members(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    if typing.get_origin(annotation) is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    return [annotation]


def _unset(member: Any) -> bool:
    return typing.get_origin(member) is typing.Literal and any(str(a) == "<UNSET>" for a in typing.get_args(member))


def _models(members: list[Any]) -> list[type[BaseModel]]:
    return [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]


def _compare(ours: type[BaseModel], theirs: type[BaseModel], event: str, path: tuple[str, ...]) -> list[str]:
    """Fields ``ours`` requires that GitHub may leave out, and non-null ones it may send as
    null, recursively."""
    found = []
    for name, field in ours.model_fields.items():
        where = (*path, name)
        theirs_field = theirs.model_fields.get(name) or next(
            (f for f in theirs.model_fields.values() if f.alias == name), None
        )
        if theirs_field is None:  # GitHub never sends it: fine only if it is optional here
            if field.is_required():
                found.append(f"{event}: {'.'.join(where)} is required here, GitHub never sends it")
            continue
        their_members = _members(theirs_field.annotation)
        our_members = _members(field.annotation)
        if (event, where) not in BEYOND_THE_SCHEMA:
            if field.is_required() and (not theirs_field.is_required() or any(map(_unset, their_members))):
                found.append(f"{event}: {'.'.join(where)} is required here, GitHub may leave it out")
            if type(None) in their_members and type(None) not in our_members:
                found.append(f"{event}: {'.'.join(where)} may be null at GitHub")
        ours_inner = [m for m in our_members if m is not type(None)][0]
        if typing.get_origin(ours_inner) is list:
            ours_inner = typing.get_args(ours_inner)[0]
            lists = [m for m in their_members if typing.get_origin(m) is list]
            their_members = [m for lst in lists for m in _members(typing.get_args(lst)[0])]
            if type(None) in their_members:
                found.append(f"{event}: {'.'.join(where)} may hold nulls at GitHub")
        if isinstance(ours_inner, type) and issubclass(ours_inner, BaseModel):
            for model in _models(their_members):
                found += _compare(ours_inner, model, event, where)
    return found


def test_every_field_required_here_is_one_github_always_sends():
    from githubkit_schemas.latest import webhooks

    found: list[str] = []
    for (event, action), shape in SHAPES.items():
        union = getattr(webhooks, "".join(w.title() for w in event.split("_")) + "Event")
        models = _models(_members(union))
        if action is not ANY_ACTION:
            models = [m for m in models if typing.get_args(m.model_fields["action"].annotation) == (action,)]
        assert models, f"GitHub's schema has no {event}.{action}"
        for model in models:
            found += _compare(shape, model, event, ())
    assert found == []


def test_the_schema_check_catches_a_field_github_may_send_as_null():
    """The check above is not vacuous: a shape demanding a review's text is caught."""
    from githubkit_schemas.latest import webhooks

    class Review(BaseModel):
        body: str

    class Strict(BaseModel):
        review: Review

    [submitted] = [
        m for m in _models(_members(webhooks.PullRequestReviewEvent))
        if typing.get_args(m.model_fields["action"].annotation) == ("submitted",)
    ]
    assert any(re.search(r"review\.body may be null", f) for f in _compare(Strict, submitted, "x", ()))
