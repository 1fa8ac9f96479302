"""Every generation now has its prompt: the column becomes required and ``messages`` goes.

Products: attributes too deep to read are read as a notice; descriptions are bounded.

A migration of its own: PostgreSQL refuses to alter a table with rows updated earlier in
the same transaction (pending foreign-key checks).
"""

import django.db.models.deletion
from django.db import migrations, models

import campaigns.models


class Migration(migrations.Migration):

    dependencies = [
        ("campaigns", "0013_launch_prompts"),
    ]

    operations = [
        migrations.AlterField(
            model_name="generation",
            name="prompt",
            field=models.ForeignKey(
                help_text="the chat messages sent, shared by its twins",
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="campaigns.prompt",
            ),
        ),
        migrations.RemoveField(
            model_name="generation",
            name="messages",
        ),
        migrations.AlterField(
            model_name="product",
            name="attributes",
            field=campaigns.models.AttributesField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name="product",
            name="description",
            field=models.TextField(blank=True, max_length=100000),
        ),
    ]
