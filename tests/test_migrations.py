"""The models and the migrations agree, and data migrations carry existing rows over."""

from __future__ import annotations

import io
from typing import Any

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
    before, after = [("campaigns", "0012_bills")], [("campaigns", "0014_launch_prompts_required")]
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


# --- prompt templates from Django syntax to Liquid ------------------------------------------------

LIQUID_MIGRATION = "liquid_templates"

CONVERTIBLE = {
    "Write a tagline for {{ product.name }} ({{ product.attributes.color }}) in {{ language }}.": (
        'Write a tagline for {{ product.name }} ({{ product.attributes.color | default: "" }}) in {{ language }}.'
    ),
    "{% for key, value in product.attributes.items %}- {{ key }}: {{ value }}\n{% endfor %}": (
        "{% for entry in product.attributes %}- {{ entry[0] }}: {{ entry[1] }}\n{% endfor %}"
    ),
    "{% if product.description %}{{ product.description|truncatechars:20|upper }}{% elif language == 'fr' %}"
    "Bonjour{% else %}{{ product.name|lower|capfirst }}{% endif %}": (
        '{% if product.description != blank %}{{ product.description | truncate: 20, "…" | upcase }}'
        "{% elsif language == 'fr' %}Bonjour{% else %}{{ product.name | downcase | capitalize }}{% endif %}"
    ),
    "{% with n=product.name %}{{ n|length }}: {{ product.attributes.sizes|join:', ' }}{% endwith %}": (
        '{% assign n = product.name %}{{ n | size }}: {{ product.attributes.sizes | default: "" | join: \', \' }}'
    ),
    "{% for s in product.attributes.sizes %}{{ forloop.counter }}={{ s }}{% empty %}none{% endfor %}": (
        "{% if product.attributes.sizes %}{% for s in product.attributes.sizes %}{{ forloop.index }}={{ s }}"
        "{% else %}none{% endfor %}{% else %}none{% endif %}"
    ),
}
UNCONVERTIBLE = {
    '{% include "base.html" %}': "the tag {% include %}",
    "{% url 'x' %}": "the tag {% url %}",
    "{{ product.name|date:'Y' }}": "the filter date",
    "{% if a and b or c %}x{% endif %}": "mixing and/or",
    "{{ product.name|title }}": "the filter title",
}


def _migration_nodes() -> tuple[tuple[str, str], tuple[str, str]]:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    graph = MigrationExecutor(connection).loader.graph
    target = next(node for node in graph.nodes if node[0] == "campaigns" and node[1].endswith(LIQUID_MIGRATION))
    (previous,) = graph.node_map[target].parents
    return previous.key, target


def _migrate(*targets: tuple[str, str]) -> Any:
    """Migrate to ``targets``; the apps (historical models) as they are there."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    MigrationExecutor(connection).migrate(list(targets))
    return MigrationExecutor(connection).loader.project_state(list(targets)).apps


@pytest.mark.django_db(transaction=True)
def test_the_liquid_migration_converts_templates_and_marks_the_rest() -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from campaigns.templating import render_template, validate_template_source

    previous, target = _migration_nodes()
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        apps = _migrate(previous)
        Template = apps.get_model("campaigns", "PromptTemplate")
        Version = apps.get_model("campaigns", "TemplateVersion")
        sources = [*CONVERTIBLE, *UNCONVERTIBLE]
        ids = {}
        for n, source in enumerate(sources):
            template = Template.objects.create(name=f"T{n}", system_prompt="Answer in {{ language }}.", body=source)
            Version.objects.create(template=template, number=1, name=template.name, system_prompt="", body=source)
            ids[source] = template.id

        apps = _migrate(target)
        Template = apps.get_model("campaigns", "PromptTemplate")
        Version = apps.get_model("campaigns", "TemplateVersion")
        product = {"name": "Lamp", "description": "", "attributes": {"sizes": ["S", "M"]}, "language": "en"}
        for source, liquid in CONVERTIBLE.items():
            template = Template.objects.get(id=ids[source])
            assert (template.body, template.needs_attention, template.attention_reason) == (liquid, False, "")
            assert template.system_prompt == "Answer in {{ language }}."
            assert Version.objects.get(template_id=template.id).body == liquid
            validate_template_source(template.body)
            render_template(template.body, product=product, language="en")
        for source, reason in UNCONVERTIBLE.items():
            template = Template.objects.get(id=ids[source])
            assert template.body == source and template.needs_attention
            assert "body: " in template.attention_reason and reason in template.attention_reason
            assert Version.objects.get(template_id=template.id).body == source
    finally:
        _migrate(*leaves)
