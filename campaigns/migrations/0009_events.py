from django.db import migrations, models


class Migration(migrations.Migration):
    """Lease renewals record the UTF-8 bytes received (the usage estimate counts bytes)."""

    dependencies = [("campaigns", "0008_provider_api_key_ascii")]

    operations = [
        migrations.RenameField(model_name="generation", old_name="progress_chars", new_name="progress_bytes"),
        migrations.AlterField(
            model_name="generation",
            name="progress_bytes",
            field=models.PositiveIntegerField(
                default=0, help_text="UTF-8 bytes of text received, as of the last lease renewal"
            ),
        ),
    ]
