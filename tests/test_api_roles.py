"""Who may do what: every API operation (read from the OpenAPI schema) and the websocket, per role.

Roles: anonymous, marketer A (the owner), marketer B (another team), marketer C (A's team),
a staff admin, and one API token of A's per scope. The operations are enumerated from
``/openapi.json``, so a new endpoint is in the matrix as soon as it exists; its rule comes
from :func:`rule` (reads need ``read``; writes ``write``; launch and cancel ``launch``;
tokens ``admin``; providers, models and quotas ``admin`` and a staff user).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.test import Client

from campaigns.models import Campaign, Generation, Prompt, Quota, Team
from campaigns.services.launch import campaign_create
from campaigns.services.tokens import token_create
from copygen.asgi import application
from tests.factories import LLMModelFactory, ProductFactory, PromptTemplateFactory, ProviderFactory, UserFactory

BASE = "/api/v1"
SECRET = "sk-roles-matrix-secret-9876"
ALL_SCOPES = ["read", "write", "launch", "admin"]
HOST = (b"host", b"127.0.0.1:8000")
ORIGIN = (b"origin", b"http://127.0.0.1:8000")
STREAMS = {"campaign_events"}  # endless responses: only requests that must be refused are sent


def rule(method: str, path: str) -> tuple[str, bool]:
    """The scope an operation needs, and whether it needs a staff user."""
    if path == "/quotas/mine":
        return "read", False
    if path.startswith("/quotas"):
        return "admin", True
    if path.startswith("/tokens"):
        return "admin", False
    if method == "GET":
        return "read", False
    if path.startswith(("/providers", "/models")):
        return "admin", True
    if path.endswith(("/launch", "/cancel")):
        return "launch", False
    if path == "/estimate":
        return "read", False
    return "write", False


@dataclass
class Actor:
    name: str
    user: Any = None
    scopes: list[str] = field(default_factory=list)
    token: str | None = None
    session: bool = False

    def client(self) -> Client:
        client = Client()
        if self.session:
            client.force_login(self.user)
        return client

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def may(self, scope: str) -> bool:
        return self.session or scope in self.scopes or "admin" in self.scopes


def _catalog() -> dict[str, Any]:
    provider = ProviderFactory(name="Roles", base_url="http://127.0.0.1:9/v1")
    provider.set_api_key(SECRET)
    provider.save()
    return {
        "provider": provider,
        "model": LLMModelFactory(provider=provider, name="roles-model"),
        "products": [ProductFactory() for _ in range(2)],
        "template": PromptTemplateFactory(),
    }


def _campaign(cat: dict[str, Any], owner: Any, name: str, team: Team | None = None) -> Campaign:
    campaign = campaign_create(
        owner=owner,
        name=name,
        product_ids=[p.id for p in cat["products"]],
        template_ids=[cat["template"].id],
        model_ids=[cat["model"].id],
    )
    campaign.team = team
    campaign.save(update_fields=["team"])
    return campaign


@pytest.fixture
def world(db: Any) -> dict[str, Any]:
    a, b, c = (UserFactory(username=n) for n in ("role-a", "role-b", "role-c"))
    admin = UserFactory(username="role-admin", is_staff=True)
    growth = Team.objects.create(name="Growth")
    growth.members.add(a, c)
    Team.objects.create(name="Other").members.add(b)
    cat = _catalog()
    shared = _campaign(cat, a, "A shared", growth)
    private = _campaign(cat, a, "A private")
    b_own = _campaign(cat, b, "B own")
    generation = Generation.objects.create(
        campaign=shared, product=cat["products"][0], template=cat["template"], model=cat["model"],
        prompt=Prompt.objects.create(campaign=shared, digest="0" * 64, messages=[]),
    )
    b_generation = Generation.objects.create(
        campaign=b_own, product=cat["products"][0], template=cat["template"], model=cat["model"],
        prompt=Prompt.objects.create(campaign=b_own, digest="0" * 64, messages=[]),
    )
    a_token, _ = token_create(user=a, scopes=["read"], name="target")
    quota = Quota.objects.create(scope="user", user=a, period="month", limit_usd="10")

    def token(user: Any, scopes: list[str]) -> str:
        return token_create(user=user, scopes=scopes)[1]

    actors = [
        Actor("anonymous"),
        Actor("owner A", a, ALL_SCOPES, token(a, ALL_SCOPES)),
        Actor("other team B", b, ALL_SCOPES, token(b, ALL_SCOPES)),
        Actor("other team B (session)", b, session=True),
        Actor("same team C", c, ALL_SCOPES, token(c, ALL_SCOPES)),
        Actor("staff admin", admin, ALL_SCOPES, token(admin, ["admin"])),
        *(Actor(f"A's {s} token", a, [s], token(a, [s])) for s in ALL_SCOPES),
    ]
    ids = {
        "campaign_id": shared.id,
        "generation_id": generation.id,
        "product_id": cat["products"][1].id,
        "template_id": cat["template"].id,
        "provider_id": cat["provider"].id,
        "model_id": cat["model"].id,
        "token_id": a_token.id,
        "quota_id": quota.id,
    }
    return {
        "a": a,
        "b": b,
        "c": c,
        "admin": admin,
        "actors": actors,
        "ids": ids,
        "shared": shared,
        "private": private,
        "b_own": b_own,
        "generation": generation,
        "b_generation": b_generation,
    }


def operations() -> list[tuple[str, str, str]]:
    """(method, path template without /api/v1, operation id) of every operation in the schema."""
    schema = Client().get(f"{BASE}/openapi.json").json()
    ops = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                ops.append((method.upper(), path.removeprefix(BASE), op["operationId"]))
    return sorted(ops)


def expected(actor: Actor, world: dict[str, Any], method: str, path: str) -> tuple[int | None, str]:
    """The status ``actor`` must get (None: any success or input error) and a word the detail must contain."""
    scope, staff = rule(method, path)
    if actor.user is None:
        return 401, "authentication required"
    if not actor.may(scope):
        return 403, f"'{scope}' scope"
    if staff and not actor.user.is_staff:
        return 403, "staff"
    on_campaign = "{campaign_id}" in path or "{generation_id}" in path
    if on_campaign and actor.user not in (world["a"], world["c"]) and not actor.user.is_staff:
        return 404, "not found"
    if "{token_id}" in path and actor.user != world["a"]:
        return 404, "not found"  # tokens are personal, even to staff
    return None, ""


def call(actor: Actor, method: str, path: str) -> Any:
    """One request, its effects rolled back, so every actor meets the same objects."""
    client = actor.client()
    kwargs: dict[str, Any] = {"headers": actor.headers()}
    if method in {"POST", "PATCH", "PUT"}:
        kwargs.update(data=json.dumps({}), content_type="application/json")
    with transaction.atomic():
        response = client.generic(method, f"{BASE}{path}", **kwargs)
        transaction.set_rollback(True)
    return response


def test_every_operation_for_every_role(world: dict[str, Any]) -> None:
    ops = operations()
    assert len(ops) >= 45, "the schema lists every operation"
    failures = []
    for method, template, op_id in ops:
        params = re.findall(r"{(\w+)}", template)
        missing = [p for p in params if p not in world["ids"]]
        assert not missing, f"{op_id}: add an object for {missing} to the roles matrix"
        path = template.format(**world["ids"])
        for actor in world["actors"]:
            status, word = expected(actor, world, method, template)
            if op_id in STREAMS and status is None:
                continue
            response = call(actor, method, path)
            body = response.content.decode(errors="replace")
            if SECRET in body or '"api_key"' in body:
                failures.append(f"{actor.name} {method} {path}: the response shows an API key")
            if status is None:
                if response.status_code in {401, 403, 404} or response.status_code >= 500:
                    failures.append(f"{actor.name} {method} {path}: {response.status_code} {body[:200]}")
            elif response.status_code != status or word not in body:
                failures.append(f"{actor.name} {method} {path}: {response.status_code} (want {status}) {body[:200]}")
    assert not failures, "\n".join(failures)


def test_lists_never_show_other_teams_campaigns(world: dict[str, Any]) -> None:
    def ids(actor_name: str, path: str, **params: Any) -> set[int]:
        actor = next(a for a in world["actors"] if a.name == actor_name)
        response = actor.client().get(f"{BASE}{path}", params, headers=actor.headers())
        assert response.status_code == 200, response.content
        return {item["id"] for item in response.json()["items"]}

    a_campaigns = {world["shared"].id, world["private"].id}
    assert ids("other team B", "/campaigns") == {world["b_own"].id}
    assert ids("other team B (session)", "/campaigns") == {world["b_own"].id}
    assert ids("other team B", "/generations") == {world["b_generation"].id}
    assert ids("other team B", "/generations", campaign_id=world["shared"].id) == set()
    assert ids("same team C", "/campaigns") == {world["shared"].id}
    assert ids("same team C", "/generations") == {world["generation"].id}
    assert ids("owner A", "/campaigns") == a_campaigns
    assert ids("staff admin", "/campaigns") == a_campaigns | {world["b_own"].id}


def test_team_member_sees_the_shared_campaign_but_not_the_private_one(world: dict[str, Any]) -> None:
    c = next(a for a in world["actors"] if a.name == "same team C")
    shared = c.client().get(f"{BASE}/campaigns/{world['shared'].id}", headers=c.headers())
    assert shared.status_code == 200 and shared.json()["team_id"] == world["shared"].team_id
    private = c.client().get(f"{BASE}/campaigns/{world['private'].id}", headers=c.headers())
    assert private.status_code == 404


def test_read_only_token_cannot_write(world: dict[str, Any]) -> None:
    actor = next(a for a in world["actors"] if a.name == "A's read token")
    for method, path in [("POST", "/products"), ("PATCH", f"/campaigns/{world['shared'].id}"), ("POST", "/tokens")]:
        response = call(actor, method, path)
        assert response.status_code == 403, (method, path, response.content)
        assert "lacks the" in response.json()["detail"] and "scope" in response.json()["detail"]


# The websocket ---------------------------------------------------------------------------


def _ws_world() -> dict[str, Any]:
    a, b, c = (UserFactory(username=n) for n in ("ws-a", "ws-b", "ws-c"))
    team = Team.objects.create(name="WS team")
    team.members.add(a, c)
    campaign = _campaign(_catalog(), a, "WS shared", team)
    return {"a": a, "b": b, "c": c, "campaign": campaign}


def _cookie(user: Any) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def _bearer(user: Any, scopes: list[str]) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {token_create(user=user, scopes=scopes)[1]}".encode())


async def _connect(campaign_id: int, headers: list[tuple[bytes, bytes]]) -> tuple[bool, Any, WebsocketCommunicator]:
    ws = WebsocketCommunicator(application, f"/ws/campaigns/{campaign_id}/", headers=[HOST, ORIGIN, *headers])
    connected, code = await ws.connect(timeout=5)
    return connected, code, ws


@pytest.mark.django_db(transaction=True)
async def test_websocket_per_role() -> None:
    w = await sync_to_async(_ws_world)()
    cid = w["campaign"].id
    refused = {
        "anonymous": ([], 4401),
        "B by session": ([await sync_to_async(_cookie)(w["b"])], 4404),
        "B by token": ([await sync_to_async(_bearer)(w["b"], ALL_SCOPES)], 4404),
        "bad token": ([(b"authorization", b"Bearer cgk_nope_nope")], 4401),
        "A by write-only token": ([await sync_to_async(_bearer)(w["a"], ["write", "launch"])], 4403),
    }
    for who, (headers, close_code) in refused.items():
        connected, code, ws = await _connect(cid, headers)
        assert not connected and code == close_code, who
    allowed = {
        "A by session": [await sync_to_async(_cookie)(w["a"])],
        "A by read token": [await sync_to_async(_bearer)(w["a"], ["read"])],
        "C by session": [await sync_to_async(_cookie)(w["c"])],
        "C by token": [await sync_to_async(_bearer)(w["c"], ["read"])],
    }
    for who, headers in allowed.items():
        connected, _, ws = await _connect(cid, headers)
        assert connected, who
        snapshot = await ws.receive_json_from(timeout=5)
        assert snapshot["type"] == "campaign.snapshot" and snapshot["campaign"]["id"] == cid, who
        await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_websocket_read_token_cannot_launch() -> None:
    w = await sync_to_async(_ws_world)()
    connected, _, ws = await _connect(w["campaign"].id, [await sync_to_async(_bearer)(w["a"], ["read"])])
    assert connected
    await ws.receive_json_from(timeout=5)
    await ws.send_json_to({"action": "launch"})
    reply = await ws.receive_json_from(timeout=5)
    assert reply["type"] == "error" and "lacks the 'launch' scope" in reply["detail"]
    await ws.disconnect()
    status = await Campaign.objects.values_list("status", flat=True).aget(id=w["campaign"].id)
    assert status == Campaign.Status.DRAFT
