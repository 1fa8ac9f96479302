"""The models and the migrations agree, and data migrations carry existing rows over."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def test_no_model_change_lacks_a_migration(db: object) -> None:  # makemigrations reads the history
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exc:  # --check exits 1 when a migration is missing
        raise AssertionError(f"missing migration:\n{out.getvalue()}") from exc


@pytest.mark.django_db(transaction=True)
def test_existing_messages_move_into_one_prompt_per_distinct_text() -> None:
    executor = MigrationExecutor(connection)
    before, after = [("campaigns", "0009_access")], [("campaigns", "0011_launch_prompts_required")]
    try:
        executor.migrate(before)
        old = executor.loader.project_state(before).apps
        user = old.get_model("auth", "User").objects.create(username="legacy")
        provider = old.get_model("campaigns", "Provider").objects.create(name="P", base_url="http://127.0.0.1:9/v1")
        models = [
            old.get_model("campaigns", "LLMModel").objects.create(
                provider=provider, name=f"m{i}", input_usd_per_mtok=1, output_usd_per_mtok=1
            )
            for i in range(2)
        ]
        product = old.get_model("campaigns", "Product").objects.create(name="Shoe")
        template = old.get_model("campaigns", "PromptTemplate").objects.create(name="T", body="x")
        campaign = old.get_model("campaigns", "Campaign").objects.create(name="C", owner=user)
        texts = ["Write about the shoe.", "Écris sur la chaussure."]
        for language, text in zip(["en", "fr"], texts, strict=True):
            for model in models:
                for variant in (1, 2):
                    old.get_model("campaigns", "Generation").objects.create(
                        campaign=campaign, product=product, template=template, model=model, variant=variant,
                        language=language, messages=[{"role": "user", "content": text}],
                    )
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        new = executor.loader.project_state(after).apps
        prompts = new.get_model("campaigns", "Prompt").objects.filter(campaign_id=campaign.id)
        assert sorted(p.messages[0]["content"] for p in prompts) == sorted(texts)
        for g in new.get_model("campaigns", "Generation").objects.select_related("prompt"):
            assert g.prompt.messages == [{"role": "user", "content": texts[g.language == "fr"]}]
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
