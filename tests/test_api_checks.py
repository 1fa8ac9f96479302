"""Copy checks through the API: templates' checks and presets, campaigns' rewrites, check results
on generations, passing copy and its cost on campaigns, the filter and the exports."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from campaigns.models import LLMModel, PromptTemplate
from tests.test_api import Api, campaign_body
from tests.test_engine_e2e import wait_finished


@pytest.fixture
def api(user: Any, make_token: Any) -> Api:
    return Api(make_token(user, "read", "write", "launch"))


TEMPLATE = {"name": "Headline", "body": "A headline for {{ product.name }}."}


@pytest.mark.django_db
def test_a_template_takes_checks_and_a_preset(api: Api) -> None:
    checks = [{"kind": "must_include", "terms": ["{{ product.name }}"]}, {"kind": "language"}]
    response = api.post("/templates", {**TEMPLATE, "checks": checks, "preset": "google_ads_headline"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [c["kind"] for c in body["checks"]] == ["max_chars", "format", "must_include", "language"]
    assert body["checks"][0] == {"kind": "max_chars", "value": 30, "counting": "google_ads", "stop_margin": 30}
    assert api.get(f"/templates/{body['id']}").json()["checks"] == body["checks"]

    response = api.patch(f"/templates/{body['id']}", {"preset": "sms"})
    assert [c["kind"] for c in response.json()["checks"]] == ["sms", "format"]
    response = api.patch(f"/templates/{body['id']}", {"checks": []})
    assert response.json()["checks"] == []
    response = api.patch(f"/templates/{body['id']}", {"name": "Renamed"})
    assert response.json()["checks"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("checks", "extra", "detail"),
    [
        ([{"kind": "max_chars", "value": 0}], {}, "checks.0.max_chars.value"),
        ([{"kind": "max_chars"}], {}, "checks.0.max_chars.value"),
        ([{"kind": "regex", "pattern": "(unclosed"}], {}, "checks.0.regex.pattern"),
        ([{"kind": "banana"}], {}, "checks.0"),
        ([{"kind": "must_include", "terms": ["{{ product.price }}"]}], {}, "checks[0].terms[0]: unknown variable"),
        ([{"kind": "max_words", "value": 3}] * 31, {}, "checks"),
        ([], {"preset": "billboard"}, "preset"),
    ],
)
def test_invalid_checks_are_422_naming_the_field(api: Api, checks: list[Any], extra: dict[str, Any], detail: str) -> None:
    response = api.post("/templates", {**TEMPLATE, "checks": checks, **extra})
    assert response.status_code == 422, response.json()
    body = response.json()
    assert body["detail"].startswith(detail), body
    assert body["field"] == ("preset" if extra else "checks")
    assert not PromptTemplate.objects.exists()


@pytest.mark.django_db
def test_campaign_rewrites_are_bounded(api: Api, catalog: dict[str, Any]) -> None:
    response = api.post("/campaigns", campaign_body(catalog, rewrites=4))
    assert response.status_code == 422 and response.json()["field"] == "rewrites"
    response = api.post("/campaigns", campaign_body(catalog))
    assert response.json()["rewrites"] == 1
    campaign_id = response.json()["id"]
    response = api.patch(f"/campaigns/{campaign_id}", {"rewrites": 3})
    assert response.status_code == 200 and response.json()["rewrites"] == 3
    assert response.json()["passing"] == 0 and response.json()["cost_per_passing_usd"] is None


@pytest.mark.django_db(transaction=True)
async def test_check_results_passing_copy_and_its_cost(api: Api, catalog, simulator, inline_engine) -> None:
    def setup() -> int:
        llm = LLMModel.objects.create(
            provider=catalog["provider"], name="sim-api@ttft=5,gap=1,len=8,jitter=0,first=long",
            input_usd_per_mtok=Decimal("0.15"), output_usd_per_mtok=Decimal("0.6"),
        )
        template = api.post("/templates", {**TEMPLATE, "checks": [{"kind": "max_chars", "value": 30}]}).json()
        body = campaign_body(catalog, template_ids=[template["id"]], model_ids=[llm.id], rewrites=0, variants=1)
        campaign_id = api.post("/campaigns", body).json()["id"]
        assert api.post(f"/campaigns/{campaign_id}/launch").status_code == 202
        return campaign_id

    def setup_fixed() -> int:
        template = PromptTemplate.objects.get(name=TEMPLATE["name"])
        llm = LLMModel.objects.get(name__startswith="sim-api")
        body = campaign_body(catalog, template_ids=[template.id], model_ids=[llm.id], rewrites=1, variants=1)
        campaign_id = api.post("/campaigns", body).json()["id"]
        assert api.post(f"/campaigns/{campaign_id}/launch").status_code == 202
        return campaign_id

    failing_id = await sync_to_async(setup)()
    await wait_finished(failing_id)
    fixed_id = await sync_to_async(setup_fixed)()
    await wait_finished(fixed_id)

    def read() -> None:
        failing = api.get(f"/campaigns/{failing_id}").json()
        assert (failing["passing"], failing["failing_checks"], failing["cost_per_passing_usd"]) == (0, 3, None)
        assert failing["rewrite_usd"] == "0"
        fixed = api.get(f"/campaigns/{fixed_id}").json()
        assert (fixed["passing"], fixed["failing_checks"]) == (3, 0)
        assert Decimal(fixed["cost_per_passing_usd"]) == (Decimal(fixed["spend_usd"]) / 3).quantize(Decimal("1e-10"))
        assert 0 < Decimal(fixed["rewrite_usd"]) < Decimal(fixed["spend_usd"])

        generations = api.get(f"/campaigns/{failing_id}/generations").json()["items"]
        assert all(g["checks_passed"] is False for g in generations)
        assert all(g["check_failures"][0].endswith("; the limit is 30") for g in generations)
        assert api.get(f"/campaigns/{failing_id}/generations", checks_passed="true").json()["count"] == 0
        assert api.get(f"/campaigns/{fixed_id}/generations", checks_passed="true").json()["count"] == 3

        one = api.get(f"/campaigns/{fixed_id}/generations").json()["items"][0]
        detail = api.get(f"/generations/{one['id']}").json()
        log = detail["attempt_log"]
        assert [(a["rewrite"], a["checks_passed"], a["kept"]) for a in log] == [(0, False, False), (1, True, True)]
        assert log[0]["check_results"][0]["reason"].endswith("; the limit is 30")
        assert log[1]["text"] == detail["text"]

        response = api.get(f"/campaigns/{failing_id}/export", format="csv")
        rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0]["checks_passed"] == "False" and rows[0]["check_failures"].endswith("; the limit is 30")
        exported = api.get(f"/campaigns/{fixed_id}/export", format="json").json()["rows"]
        assert all(r["checks_passed"] is True and r["check_failures"] == "" for r in exported)

    await sync_to_async(read)()
