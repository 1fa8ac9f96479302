"""Reviewing generations (rate, approve, edit) and exporting a campaign's copy."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook

from campaigns.models import Attempt, Generation
from campaigns.services.export import COLUMNS
from tests.test_api import Api, assert_error, campaign_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(user: Any, make_token: Callable[..., str]) -> Api:
    return Api(make_token(user, "read", "write", "launch"))


@pytest.fixture
def finished(api: Api, catalog: dict[str, Any]) -> dict[str, Any]:
    """A launched campaign (2 cells) whose first cell succeeded after a retry, second failed."""
    body = campaign_body(
        catalog,
        product_ids=[catalog["products"][0].id],
        template_ids=[catalog["templates"][0].id],
        model_ids=[catalog["models"][0].id],
        variants=2,
    )
    campaign_id = api.post("/campaigns", body).json()["id"]
    api.post(f"/campaigns/{campaign_id}/launch")
    first, second = Generation.objects.filter(campaign_id=campaign_id).order_by("id")
    model = catalog["models"][0]
    Generation.objects.filter(id=first.id).update(
        status="succeeded",
        text="=SUM(A1) Run further.",
        tokens_in=30,
        tokens_out=12,
        cost_usd=Decimal("0.0000117"),
        cost_source="reported",
        attempts=2,
        latency_ms=120.5,
        ttft_ms=14.0,
        served_by=model,
    )
    Attempt.objects.create(generation=first, number=1, model=model, status_code=429, error="rate limited")
    Attempt.objects.create(
        generation=first,
        number=2,
        model=model,
        status_code=200,
        tokens_in=30,
        tokens_out=12,
        cost_usd=Decimal("0.0000117"),
        cost_source="reported",
        duration_ms=120.5,
        ttft_ms=14.0,
    )
    Generation.objects.filter(id=second.id).update(status="failed", text="Partial", error="stream cut")
    return {"campaign_id": campaign_id, "first": first.id, "second": second.id}


# Review ---------------------------------------------------------------------------------


def test_generation_detail_has_attempts_and_messages(api: Api, finished: dict[str, Any]) -> None:
    out = api.get(f"/generations/{finished['first']}").json()
    assert out["status"] == "succeeded" and out["final_text"] == out["text"] == "=SUM(A1) Run further."
    assert [(a["number"], a["status_code"]) for a in out["attempt_log"]] == [(1, 429), (2, 200)]
    assert out["attempt_log"][1]["cost_usd"] == "0.0000117"
    assert out["messages"][-1]["role"] == "user"
    assert out["campaign_id"] == finished["campaign_id"] and out["served_by_id"] is not None


def test_rate_approve_edit_and_undo(api: Api, finished: dict[str, Any]) -> None:
    path = f"/generations/{finished['first']}"
    reviewed = api.patch(path, {"rating": 4, "approved": True, "edited_text": "Run further. Grip harder."})
    assert reviewed.status_code == 200, reviewed.content
    out = reviewed.json()
    assert (out["rating"], out["approved"]) == (4, True) and out["approved_at"] is not None
    assert out["text"] == "=SUM(A1) Run further." and out["final_text"] == "Run further. Grip harder."
    generation = Generation.objects.get(id=finished["first"])
    assert generation.edited_text == "Run further. Grip harder." and generation.text == "=SUM(A1) Run further."

    undone = api.patch(path, {"rating": None, "approved": False, "edited_text": ""}).json()
    assert (undone["rating"], undone["approved"], undone["approved_at"]) == (None, False, None)
    assert undone["final_text"] == undone["text"]
    assert api.patch(path, {"rating": 2}).json()["edited_text"] == ""  # untouched fields stay


def test_review_errors(api: Api, finished: dict[str, Any], user: Any, make_token: Callable[..., str]) -> None:
    path = f"/generations/{finished['first']}"
    assert_error(api.patch(path, {"rating": 6}), 422, "rating")
    assert_error(api.patch(path, {"rating": 0}), 422, "rating")
    assert_error(api.patch(path, {"approved": None}), 422, "approved")
    assert_error(api.patch(path, {"edited_text": None}), 422, "edited_text")
    assert_error(Api(make_token(user, "read")).patch(path, {"rating": 3}), 403, None, "write")
    queued = Generation.objects.filter(campaign_id=finished["campaign_id"]).first()
    assert queued is not None
    Generation.objects.filter(id=queued.id).update(status="queued")
    assert_error(api.patch(f"/generations/{queued.id}", {"approved": True}), 409, None, "finished")
    assert_error(api.get("/generations/999999"), 404)


# Export ---------------------------------------------------------------------------------


def approve_first(api: Api, finished: dict[str, Any]) -> None:
    api.patch(f"/generations/{finished['first']}", {"approved": True, "rating": 5, "edited_text": "-Edited copy"})


def test_export_csv(api: Api, finished: dict[str, Any], catalog: dict[str, Any]) -> None:
    approve_first(api, finished)
    response = api.get(f"/campaigns/{finished['campaign_id']}/export", format="csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"campaign-{finished['campaign_id']}.csv" in response["Content-Disposition"]
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 2
    first = rows[0]
    assert first["product"] == catalog["products"][0].name and first["template"] == catalog["templates"][0].name
    assert first["text"] == "'-Edited copy" and first["original_text"] == "'=SUM(A1) Run further."  # no formulas
    assert (first["rating"], first["approved"], first["cost_usd"]) == ("5", "True", "0.0000117")
    assert (first["tokens_in"], first["tokens_out"], first["latency_ms"], first["ttft_ms"]) == (
        "30",
        "12",
        "120.5",
        "14.0",
    )
    assert rows[1]["status"] == "failed" and rows[1]["rating"] == ""
    only = api.get(f"/campaigns/{finished['campaign_id']}/export", format="csv", approved_only="true")
    assert len(list(csv.DictReader(io.StringIO(only.content.decode("utf-8-sig"))))) == 1


def test_export_json(api: Api, finished: dict[str, Any]) -> None:
    approve_first(api, finished)
    response = api.get(f"/campaigns/{finished['campaign_id']}/export", format="json", approved_only="true")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    assert body["campaign_id"] == finished["campaign_id"] and len(body["rows"]) == 1
    row = body["rows"][0]
    assert set(row) == set(COLUMNS)
    assert row["text"] == "-Edited copy" and row["original_text"] == "=SUM(A1) Run further."
    assert row["cost_usd"] == "0.0000117" and row["approved"] is True and row["served_by"]


def test_export_xlsx(api: Api, finished: dict[str, Any]) -> None:
    approve_first(api, finished)
    response = api.get(f"/campaigns/{finished['campaign_id']}/export", format="xlsx")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == COLUMNS and len(rows) == 3
    first = dict(zip(COLUMNS, rows[1], strict=True))
    assert first["text"] == "-Edited copy" and first["original_text"] == "=SUM(A1) Run further."
    assert sheet.cell(row=2, column=COLUMNS.index("original_text") + 1).data_type == "s"  # text, not a formula
    assert first["cost_usd"] == pytest.approx(0.0000117) and first["rating"] == 5


def test_export_bad_format_is_422(api: Api, finished: dict[str, Any]) -> None:
    assert_error(api.get(f"/campaigns/{finished['campaign_id']}/export", format="pdf"), 422, "format")
