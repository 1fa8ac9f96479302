from django.db import migrations, models


class Migration(migrations.Migration):
    """Lease renewals record the UTF-8 bytes received (the usage estimate counts bytes);
    quota webhooks get their own outbox."""

    dependencies = [("campaigns", "0010_liquid_templates")]

    operations = [
        migrations.RenameField(model_name="generation", old_name="progress_chars", new_name="progress_bytes"),
        migrations.AlterField(
            model_name="generation",
            name="progress_bytes",
            field=models.PositiveIntegerField(
                default=0, help_text="UTF-8 bytes of text received, as of the last lease renewal"
            ),
        ),
        migrations.CreateModel(
            name="WebhookDelivery",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("url", models.URLField(max_length=2000)),
                ("payload", models.JSONField()),
                ("status", models.CharField(
                    choices=[("pending", "Pending"), ("delivered", "Delivered"), ("failed", "Failed")],
                    default="pending", max_length=10,
                )),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("next_attempt_at", models.DateTimeField(
                    help_text="when it is due (again); while a POST is under way, its lease"
                )),
                ("last_error", models.CharField(blank=True, max_length=500)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("delivered_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "verbose_name_plural": "webhook deliveries",
                "indexes": [models.Index(fields=["status", "next_attempt_at"], name="webhook_due")],
            },
        ),
    ]
