"""Launch time: a big campaign launched while another user keeps writing.

``run_launch`` builds a campaign of ``products × templates × models × 20 variants`` cells
(28,800 by default, 480 distinct prompts), then launches it with the real service while a
thread writes products one at a time on its own connection, as another user of the API
would. It reports the launch's phases (render before the transaction, write inside it),
the time per 1,000 cells, the prompts stored, and what the other writer saw: how many
writes went through during the launch, how many failed, and the longest one.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from bench.copygen_runs import _database, setup_django

__all__ = ["run_launch"]

VARIANTS = 20


def _campaign(products: int, templates: int, models: int) -> Any:
    from decimal import Decimal

    from django.contrib.auth import get_user_model

    from campaigns.models import LLMModel, Product, PromptTemplate, Provider
    from campaigns.services.launch import campaign_create

    user, _ = get_user_model().objects.get_or_create(username="bench")
    provider, _ = Provider.objects.get_or_create(name="Nowhere", defaults={"base_url": "http://127.0.0.1:9/v1"})
    llms = [
        LLMModel.objects.create(
            provider=provider, name=f"bench-{i}", input_usd_per_mtok=Decimal("0.15"), output_usd_per_mtok=Decimal("0.6")
        )
        for i in range(models)
    ]
    texts = PromptTemplate.objects.bulk_create(
        [
            PromptTemplate(name=f"Angle {i}", body=f"Angle {i}: a warm description of {{{{ product.name }}}}. "
                           "{{ product.description }} Colour: {{ product.attributes.color }}.")
            for i in range(templates)
        ]
    )
    items = Product.objects.bulk_create(
        [
            Product(name=f"Product {i}", description="Soft, warm and made to last. " * 8, attributes={"color": "blue"})
            for i in range(products)
        ]
    )
    return campaign_create(
        owner=user, name="Launch bench", product_ids=[p.id for p in items], template_ids=[t.id for t in texts],
        model_ids=[m.id for m in llms], variants=VARIANTS, budget_usd=Decimal("100000"),
    )


class _OtherWriter:
    """Another user writing products in a loop on its own connection until stopped."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from django.db import connection

        from campaigns.models import Product
        from campaigns.services.products import product_save

        try:
            while not self._stop.is_set():
                t0 = time.monotonic()
                try:
                    product_save(product=Product(), name=f"Other {len(self.latencies)}", attributes={"k": "v"})
                except Exception as exc:  # a failed write is the measurement
                    self.errors.append(str(exc)[:200])
                self.latencies.append(time.monotonic() - t0)
                time.sleep(0.01)
        finally:
            connection.close()

    def __enter__(self) -> _OtherWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)


def run_launch(spec: dict[str, Any]) -> dict[str, Any]:
    database = spec.get("database", "sqlite")
    with _database(database) as url:
        setup_django(url)
        from django.db import connection

        from campaigns.models import Generation, Prompt
        from campaigns.services import launch

        campaign = _campaign(spec["products"], spec["templates"], spec["models"])
        phases: dict[str, float] = {}
        plan, write = launch._plan, launch._write

        def timed_plan(campaign: Any) -> Any:
            t0 = time.monotonic()
            try:
                return plan(campaign)
            finally:
                phases["render_s"] = time.monotonic() - t0

        def timed_write(campaign: Any, the_plan: Any) -> None:
            t0 = time.monotonic()
            try:
                write(campaign, the_plan)
            finally:
                phases["write_s"] = time.monotonic() - t0

        launch._plan, launch._write = timed_plan, timed_write  # type: ignore[assignment]
        with _OtherWriter() as other:
            time.sleep(0.2)
            t0 = time.monotonic()
            launch.campaign_launch(campaign_id=campaign.id, actor=campaign.owner, token=None)
            total = time.monotonic() - t0
            time.sleep(0.2)
        cells = Generation.objects.filter(campaign=campaign).count()
        prompts = Prompt.objects.filter(campaign=campaign).count()
        connection.close()
        return {
            "database": database,
            "cells": cells,
            "prompts": prompts,
            "launch_s": round(total, 3),
            "render_s": round(phases.get("render_s", 0.0), 3),
            "write_s": round(phases.get("write_s", 0.0), 3),
            "ms_per_1000_cells": round(total / max(cells, 1) * 1_000_000, 1),
            "other_writes": len(other.latencies),
            "other_write_errors": len(other.errors),
            "other_error_sample": other.errors[:3],
            "other_write_max_ms": round(max(other.latencies, default=0.0) * 1000, 1),
        }
