"""The former ``owner/name`` of a renamed or transferred repository, read from payloads
shaped as GitHub sends them (``changes.repository.name.from``; ``changes.owner.from`` with
a ``user`` or an ``organization``). Pure data, no fakes."""

from __future__ import annotations

from bot.events.repositories import former_name
from bot.events.shapes import problems

REPOSITORY = {"full_name": "neworg/demo", "name": "demo", "default_branch": "main"}


def payload(action: str, changes: dict | None) -> dict:
    body = {"action": action, "repository": REPOSITORY, "installation": {"id": 4}, "sender": {"login": "o"}}
    if changes is not None:
        body["changes"] = changes
    return body


def test_a_rename_names_the_old_repository_under_the_same_owner():
    renamed = payload("renamed", {"repository": {"name": {"from": "old-demo"}}})
    assert problems("repository", renamed) is None
    assert former_name("renamed", renamed) == "neworg/old-demo"


def test_a_transfer_names_the_old_owner_be_it_a_user_or_an_organization():
    from_user = payload("transferred", {"owner": {"from": {"user": {"login": "alice", "id": 1}}}})
    from_org = payload("transferred", {"owner": {"from": {"organization": {"login": "oldorg", "id": 2}}}})
    assert problems("repository", from_user) is None
    assert former_name("transferred", from_user) == "alice/demo"
    assert former_name("transferred", from_org) == "oldorg/demo"


def test_other_actions_and_odd_changes_name_no_former_repository():
    assert former_name("edited", payload("edited", {"default_branch": {"from": "main"}})) is None
    assert former_name("renamed", payload("renamed", None)) is None
    assert former_name("transferred", payload("transferred", {"owner": {"from": {"user": None}}})) is None
