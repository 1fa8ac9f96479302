"""Prompt templates move from Django template syntax to Liquid.

Each template's system prompt and body are converted (see ``campaigns.templating.from_django``);
a template that cannot be converted is kept as it was and marked as needing attention, with
the reason, so that the studio and the admin show it and a launch refuses it until it is fixed.
Pinned versions are converted the same way (they have no mark: a launch names what fails).
"""

from django.db import migrations, models

FIELDS = ("system_prompt", "body")


def _convert(text: str) -> tuple[str, str]:
    """``text`` in Liquid and ``""``, or ``text`` unchanged and the reason it could not be converted."""
    from django.core.exceptions import ValidationError

    from campaigns.templating.from_django import Unconvertible, convert_django_template
    from campaigns.templating import validate_template_source

    try:
        converted = convert_django_template(text)
        validate_template_source(converted)
    except Unconvertible as exc:
        return text, str(exc)
    except ValidationError as exc:
        return text, f"after conversion: {exc.messages[0]}"
    except Exception as exc:  # noqa: BLE001 - the Django parser's own errors: a template that never rendered
        return text, f"{type(exc).__name__}: {exc}"
    return converted, ""


def _convert_row(row: object) -> list[str]:
    reasons = []
    for field in FIELDS:
        converted, reason = _convert(getattr(row, field))
        if reason:
            reasons.append(f"{field.replace('_', ' ')}: {reason}")
        else:
            setattr(row, field, converted)
    return reasons


def to_liquid(apps, schema_editor):  # type: ignore[no-untyped-def]
    PromptTemplate = apps.get_model("campaigns", "PromptTemplate")
    TemplateVersion = apps.get_model("campaigns", "TemplateVersion")
    for template in PromptTemplate.objects.all().iterator():
        reasons = _convert_row(template)
        template.needs_attention = bool(reasons)
        template.attention_reason = (
            "could not be converted to Liquid, kept as it was: " + "; ".join(reasons) if reasons else ""
        )
        template.save(update_fields=[*FIELDS, "needs_attention", "attention_reason"])
    for version in TemplateVersion.objects.all().iterator():
        _convert_row(version)
        version.save(update_fields=list(FIELDS))


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0009_access"),
    ]

    operations = [
        migrations.AddField(
            model_name="prompttemplate",
            name="attention_reason",
            field=models.TextField(blank=True, help_text="why the template needs attention"),
        ),
        migrations.AddField(
            model_name="prompttemplate",
            name="needs_attention",
            field=models.BooleanField(
                default=False,
                help_text="kept as it was by a migration that could not convert it; refused at launch until saved again",
            ),
        ),
        migrations.RunPython(to_liquid, migrations.RunPython.noop),
    ]
