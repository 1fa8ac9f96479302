"""Copy checks on the Django side: a template's checks pinned per cell, banned terms, presets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError

from campaigns.engine.checks import CheckSpecError, checks_dump, preset_checks
from campaigns.models import BannedTerm, checks_validate
from campaigns.services.errors import InvalidInput
from campaigns.templating import render_template

__all__ = ["banned_terms", "cell_checks", "checks_from_input", "template_fields"]


def banned_terms() -> list[str]:
    """The organisation's banned terms (admin), checked in every campaign."""
    return list(BannedTerm.objects.order_by("term").values_list("term", flat=True))


def checks_from_input(checks: Sequence[Mapping[str, Any]] | None, preset: str | None) -> list[dict[str, Any]] | None:
    """A template's checks from API or form input: the preset's checks, then the listed ones.

    None when neither is given (no change). Errors name the field (``checks[2].value``).
    """
    if checks is None and preset is None:
        return None
    combined: list[Any] = []
    if preset:
        try:
            combined.extend(checks_dump(preset_checks(preset)))
        except CheckSpecError as exc:
            raise InvalidInput("preset", str(exc)) from exc
    combined.extend(checks or [])
    try:
        return checks_validate(combined)
    except ValidationError as exc:
        raise InvalidInput("checks", exc.messages[0]) from exc


def cell_checks(
    checks: Sequence[Mapping[str, Any]], *, product: Mapping[str, Any], language: str, banned: Sequence[str]
) -> list[dict[str, Any]]:
    """The checks of one cell: ``{{ product.name }}`` in terms rendered, the banned terms added."""
    pinned: list[dict[str, Any]] = []
    for check in checks:
        check = dict(check)
        if "terms" in check:
            terms = [render_template(t, product=product, language=language) for t in check["terms"]]
            check["terms"] = [t for t in terms if t.strip()]
            if not check["terms"]:
                continue  # every term rendered empty (a product without that field)
        pinned.append(check)
    if banned:
        pinned.append({"kind": "must_not_include", "terms": list(banned)})
    return pinned


def template_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """A template's fields from API input: ``preset`` and ``checks`` become its checks list."""
    fields = dict(data)
    checks = checks_from_input(fields.pop("checks", None), fields.pop("preset", None))
    if checks is not None:
        fields["checks"] = checks
    return fields
