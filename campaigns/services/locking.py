"""Row locks the same way everywhere money or leases move."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model, QuerySet

__all__ = ["locked"]

M = TypeVar("M", bound=Model)


def locked(qs: QuerySet[M], *, skip_locked: bool = False) -> QuerySet[M]:
    """``qs`` with ``SELECT … FOR UPDATE`` on its own table's rows (never a joined table's),
    where the database has row locks; SQLite serialises writers with IMMEDIATE transactions.

    ``skip_locked``: rows another transaction holds are left out instead of waited for.
    """
    features = connection.features
    if not features.has_select_for_update:
        return qs
    options: dict[str, Any] = {}
    if features.has_select_for_update_of:
        options["of"] = ("self",)
    if skip_locked and features.has_select_for_update_skip_locked:
        options["skip_locked"] = True
    return qs.select_for_update(**options)
