"""update_many: one statement round for many rows, every column type the engine writes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import Generation
from campaigns.services.bulk import update_many
from campaigns.services.launch import campaign_launch
from tests.test_engine_e2e import make_campaign

FIELDS = [
    "status", "text", "ttft_ms", "cost_usd", "quota_reservations", "finished_at", "served_by", "lease_owner", "attempts",
]


@pytest.mark.django_db
def test_each_row_gets_its_own_values_and_the_others_are_untouched(catalog: dict[str, Any], user: Any) -> None:
    campaign = make_campaign(catalog, user)
    campaign_launch(campaign_id=campaign.id, actor=campaign.owner, token=None)
    gens = list(Generation.objects.filter(campaign=campaign).order_by("id"))
    assert len(gens) >= 3
    first, second, untouched = gens[0], gens[1], gens[2]
    model = catalog["models"][0]
    when = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
    rows = [
        (first.id, ["succeeded", "O'Brien's \"best\" — naïve 🚀\n", 212.5, Decimal("0.0000012345"), {"7": "0.25"}, when,
                    model.id, "", 3]),
        (second.id, ["failed", "", None, Decimal("3"), {}, None, None, "engine-2", 0]),
        (2**62, ["failed", "no such row", None, Decimal("1"), {}, None, None, "", 1]),  # ignored
    ]
    with CaptureQueriesContext(connection) as queries:
        update_many(Generation, FIELDS, rows)
    assert len(queries) == 1  # one executemany, not one query per row

    first.refresh_from_db()
    assert (first.status, first.text, first.ttft_ms, first.cost_usd) == (
        "succeeded", "O'Brien's \"best\" — naïve 🚀\n", 212.5, Decimal("0.0000012345"),
    )
    assert (first.quota_reservations, first.finished_at, first.served_by_id, first.lease_owner, first.attempts) == (
        {"7": "0.25"}, when, model.id, "", 3,
    )
    second.refresh_from_db()
    assert (second.status, second.text, second.ttft_ms, second.cost_usd) == ("failed", "", None, Decimal("3"))
    assert (second.quota_reservations, second.finished_at, second.served_by_id, second.lease_owner, second.attempts) == (
        {}, None, None, "engine-2", 0,
    )
    before = {f: getattr(untouched, f) for f in FIELDS}
    untouched.refresh_from_db()
    assert {f: getattr(untouched, f) for f in FIELDS} == before


@pytest.mark.django_db
def test_nothing_to_update_sends_nothing() -> None:
    with CaptureQueriesContext(connection) as queries:
        update_many(Generation, FIELDS, [])
    assert len(queries) == 0
