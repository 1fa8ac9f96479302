"""Templates written to hurt: each ends in a clear error, within a bounded time, on every path.

A template the language cannot express (includes, debug dumps, deep nesting, a huge source)
is refused when saved. One that saves but cannot render within the limits (loops, megabytes
of output) is a 4xx naming the template and the limit at preview (UI), estimate (UI and API),
launch (API, UI, websocket), and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.urls import reverse

from campaigns.models import Campaign, Generation, PromptTemplate
from campaigns.templating import TemplateRenderError, render_template, validate_template_source
from tests import view_support
from tests.factories import ProductFactory
from tests.test_api import Api, assert_error, campaign_body
from tests.test_consumers import ORIGIN, connect, session_cookie
from tests.view_support import make_campaign

pytestmark = [pytest.mark.timeout(60)]
client_for = view_support.client_for  # the fixture, shared by the view tests

LONG_DESCRIPTION = "Bright, warm, dimmable and built to last for years. " * 20  # 1,040 characters

# Saved fine (valid Liquid over product.* and language), then refused when rendered.
RENDER_HOSTILE = {
    "nested loops over a long description": (
        "{% assign chars = product.description | split: '' %}"
        "{% for a in chars %}{% for b in chars %}{% for c in chars %}x{% endfor %}{% endfor %}{% endfor %}",
        "loop",
    ),
    "many loops one after another": ("{% for i in (1..9000) %}{% endfor %}" * 5, "loop"),
    "megabytes of output (lorem)": (
        "{% for i in (1..10000) %}{{ product.description }} lorem ipsum dolor sit amet {% endfor %}",
        "COPYGEN_MAX_PROMPT_CHARS",
    ),
    "doubling a string": (
        "{% assign s = product.description %}{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}{{ s }}",
        "assign",
    ),
    "a huge range joined": ("{{ (1..100000000) | join: ',' }}", "range"),
    "a huge replacement": ("{{ product.description | replace: '', product.description }}", "value limit"),
    "a growing number": ("{{ 99999999999 | times: 99999999999 | times: 99999999999 " + "| times: 99999999999 " * 40 + "}}", "number"),
    "a capture of megabytes": (
        "{% capture big %}{% for i in (1..10000) %}{{ product.description }}{% endfor %}{% endcapture %}{{ big | size }}",
        "COPYGEN_MAX_PROMPT_CHARS",
    ),
}

# Refused when saved, with the reason.
SAVE_HOSTILE = {
    "include": ('{% include "base.html" %}', "'include' is not available"),
    "include a path": ('{% include "../settings.py" %}', "'include' is not available"),
    "render": ("{% render 'snippet' %}", "'render' is not available"),
    "extends": ('{% extends "base.html" %}', "'extends' is not available"),
    "debug": ("{% debug %}", "'debug' is not available"),
    "django url": ('{% url "nonexistent" %}', "unexpected tag 'url'"),
    "django lorem": ("{% lorem 1000000 w %}", "unexpected tag 'lorem'"),
    "a dump of everything": ("{{ product | json }}{{ settings }}", "unknown variable 'settings'"),
    "deep nesting": ("{% if product.name %}" * 200 + "x" + "{% endif %}" * 200, "nested more than"),
    "deep unclosed nesting": ("{% for a in product.attributes %}" * 500, "nested more than"),
    "huge source": ("{{ product.name }}" + "x" * 1_000_000, "COPYGEN_MAX_TEMPLATE_CHARS"),
}


@pytest.fixture
def api(user: Any, make_token: Callable[..., str]) -> Api:
    return Api(make_token(user, "read", "write", "launch"))


def hostile_template(body: str) -> PromptTemplate:
    return PromptTemplate.objects.create(name="Hostile", body=body)


# --- refused when saved ----------------------------------------------------------------------


@pytest.mark.parametrize("case", SAVE_HOSTILE)
def test_refused_when_saved_with_the_reason(case: str) -> None:
    source, reason = SAVE_HOSTILE[case]
    with pytest.raises(ValidationError, match=reason):
        validate_template_source(source)


@pytest.mark.django_db
@pytest.mark.parametrize("case", SAVE_HOSTILE)
def test_api_refuses_them_with_422_naming_the_field(case: str, api: Api) -> None:
    source, _reason = SAVE_HOSTILE[case]
    response = api.post("/templates", {"name": "Hostile", "body": source})
    assert_error(response, 422, "body")
    assert not PromptTemplate.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("case", ["include", "debug", "deep nesting", "huge source"])
def test_the_editor_refuses_them_with_the_reason(case: str, client_for: Any, user: Any) -> None:
    source, reason = SAVE_HOSTILE[case]
    response = client_for(user).post(reverse("campaigns:template_create"), {"name": "Hostile", "body": source})
    assert response.status_code == 200  # the form again, with the error
    assert reason.split("'")[1 if "'" in reason else 0] in response.content.decode()
    assert not PromptTemplate.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("case", ["include", "extends", "django url"])
def test_the_preview_refuses_them_with_400(case: str, client_for: Any, user: Any) -> None:
    product = ProductFactory()
    response = client_for(user).post(
        reverse("campaigns:template_preview"), {"body": SAVE_HOSTILE[case][0], "product_id": product.pk}
    )
    assert response.status_code == 400
    assert response.json()["field"] == "body"


# --- refused when rendered -------------------------------------------------------------------


@pytest.mark.parametrize("case", RENDER_HOSTILE)
def test_saved_but_never_rendered_past_a_limit(case: str) -> None:
    source, limit = RENDER_HOSTILE[case]
    validate_template_source(source)  # the language allows it...
    product = {"name": "Lamp", "description": LONG_DESCRIPTION, "attributes": {}, "language": "en"}
    with pytest.raises(TemplateRenderError) as err:  # ...the limits don't
        render_template(source, product=product, language="en", name="Hostile")
    assert "template 'Hostile'" in err.value.messages[0]
    assert limit in err.value.messages[0]


def test_deeply_nested_attributes_are_a_clear_error() -> None:
    attributes: dict[str, Any] = {}
    for _ in range(100_000):
        attributes = {"a": attributes}
    product = {"name": "Deep", "description": "", "attributes": attributes, "language": "en"}
    for source in ("{{ product.attributes }}", "{{ product.attributes | json }}"):
        with pytest.raises(TemplateRenderError, match="template 'Hostile'"):
            render_template(source, product=product, language="en", name="Hostile")
    # A path into them is only as deep as the source is long.
    path = "product.attributes" + ".a" * 500
    assert render_template(f"{{{{ {path} | size }}}}", product=product, language="en") == "1"


@pytest.mark.django_db
@pytest.mark.parametrize("case", RENDER_HOSTILE)
def test_ui_preview_is_400_naming_the_limit(case: str, client_for: Any, user: Any) -> None:
    source, limit = RENDER_HOSTILE[case]
    product = ProductFactory(description=LONG_DESCRIPTION)
    response = client_for(user).post(
        reverse("campaigns:template_preview"), {"system_prompt": "", "body": source, "product_id": product.pk}
    )
    assert response.status_code == 400
    assert limit in response.json()["error"]


@pytest.mark.django_db
@pytest.mark.parametrize("case", ["nested loops over a long description", "megabytes of output (lorem)"])
def test_api_estimate_and_launch_are_422_naming_template_and_limit(
    case: str, api: Api, catalog: dict[str, Any]
) -> None:
    source, limit = RENDER_HOSTILE[case]
    hostile = hostile_template(source)
    products = [ProductFactory(description=LONG_DESCRIPTION)]
    body = campaign_body(catalog, product_ids=[p.id for p in products], template_ids=[hostile.id])
    matrix = {k: v for k, v in body.items() if k not in {"name", "budget_usd"}}

    assert_error(api.post("/estimate", matrix), 422, "template_ids", "Hostile", limit)

    created = api.post("/campaigns", body)
    assert created.status_code == 201, created.content
    campaign_id = created.json()["id"]
    assert_error(api.get(f"/campaigns/{campaign_id}/estimate"), 422, "template_ids", "Hostile", limit)
    assert_error(api.post(f"/campaigns/{campaign_id}/launch"), 422, "template_ids", "Hostile", limit)
    assert Campaign.objects.get(id=campaign_id).status == Campaign.Status.DRAFT
    assert not Generation.objects.exists()


@pytest.mark.django_db
def test_ui_estimate_and_launch_refuse_with_the_reason(client_for: Any, user: Any, catalog: dict[str, Any]) -> None:
    source, limit = RENDER_HOSTILE["megabytes of output (lorem)"]
    hostile = hostile_template(source)
    client = client_for(user)
    response = client.post(
        reverse("campaigns:campaign_estimate"),
        {
            "products": [catalog["products"][0].pk],
            "templates": [hostile.pk],
            "models": [catalog["models"][0].pk],
            "variants": 1,
            "max_tokens": 64,
            "temperature": 0.7,
            "budget_usd": "1",
        },
    )
    assert 400 <= response.status_code < 500 and limit in response.json()["error"]

    campaign = make_campaign(user, {**catalog, "templates": [hostile]})
    response = client.post(reverse("campaigns:campaign_launch", args=[campaign.pk]))
    assert response.status_code == 302
    assert any(limit in str(m) for m in get_messages(response.wsgi_request))
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT and not campaign.generations.exists()


@pytest.mark.django_db(transaction=True)
async def test_websocket_launch_answers_an_error_naming_the_limit(user: Any, catalog: dict[str, Any]) -> None:
    source, limit = RENDER_HOSTILE["nested loops over a long description"]
    campaign = await sync_to_async(lambda: make_campaign(user, {**catalog, "templates": [hostile_template(source)]}))()
    headers = [ORIGIN, await sync_to_async(session_cookie)(user)]
    communicator, connected, _code = await connect(campaign.pk, headers)
    assert connected
    await communicator.send_json_to({"action": "launch"})
    while (message := await communicator.receive_json_from(timeout=20)).get("type") != "error":
        pass
    assert limit in message["detail"] and "Hostile" in message["detail"]
    await communicator.disconnect()
    assert await Generation.objects.filter(campaign_id=campaign.pk).acount() == 0
