"""Each distinct rendered prompt stored once per campaign (``Prompt``), generations point at it.

The data step moves every generation's own copy of ``messages`` into its campaign's
prompts (one row per distinct prompt), then the column goes.
"""

import hashlib
import json

import django.db.models.deletion
from django.db import migrations, models


def _digest(messages):
    canonical = json.dumps(list(messages), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def messages_to_prompts(apps, schema_editor):
    Generation = apps.get_model("campaigns", "Generation")
    Prompt = apps.get_model("campaigns", "Prompt")
    campaign_ids = Generation.objects.order_by().values_list("campaign_id", flat=True).distinct()
    for campaign_id in list(campaign_ids):
        by_digest: dict[str, list[int]] = {}
        messages_of: dict[str, object] = {}
        rows = Generation.objects.filter(campaign_id=campaign_id).values_list("id", "messages").order_by("id")
        for gen_id, messages in rows.iterator(chunk_size=2000):
            digest = _digest(messages or [])
            messages_of.setdefault(digest, messages or [])
            by_digest.setdefault(digest, []).append(gen_id)
        Prompt.objects.bulk_create(
            [Prompt(campaign_id=campaign_id, digest=d, messages=m) for d, m in messages_of.items()], batch_size=500
        )
        ids = dict(Prompt.objects.filter(campaign_id=campaign_id).values_list("digest", "id"))
        for digest, gen_ids in by_digest.items():
            for start in range(0, len(gen_ids), 500):
                Generation.objects.filter(id__in=gen_ids[start : start + 500]).update(prompt_id=ids[digest])


def prompts_to_messages(apps, schema_editor):
    Generation = apps.get_model("campaigns", "Generation")
    Prompt = apps.get_model("campaigns", "Prompt")
    for prompt in Prompt.objects.all().iterator(chunk_size=500):
        Generation.objects.filter(prompt_id=prompt.id).update(messages=prompt.messages)


class Migration(migrations.Migration):

    dependencies = [
        ("campaigns", "0012_bills"),
    ]

    operations = [
        migrations.CreateModel(
            name="Prompt",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("digest", models.CharField(max_length=64)),
                ("messages", models.JSONField(help_text="the chat messages rendered and pinned at launch")),
                (
                    "campaign",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="prompts",
                        to="campaigns.campaign",
                    ),
                ),
            ],
            options={"ordering": ["id"]},
        ),
        migrations.AddConstraint(
            model_name="prompt",
            constraint=models.UniqueConstraint(fields=("campaign", "digest"), name="uniq_prompt_per_campaign"),
        ),
        migrations.AddField(
            model_name="generation",
            name="prompt",
            field=models.ForeignKey(
                null=True,
                help_text="the chat messages sent, shared by its twins",
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="campaigns.prompt",
            ),
        ),
        migrations.AlterField(
            model_name="generation",
            name="messages",
            field=models.JSONField(null=True, help_text="the chat messages rendered and pinned at launch"),
        ),
        migrations.RunPython(messages_to_prompts, prompts_to_messages, elidable=True),
    ]
