"""Every generation now has its prompt: the column becomes required and ``messages`` goes.

A migration of its own: PostgreSQL refuses to alter a table with rows updated earlier in
the same transaction (pending foreign-key checks).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("campaigns", "0009_launch_prompts"),
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
    ]
