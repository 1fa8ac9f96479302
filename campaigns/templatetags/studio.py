"""Template filters of the marketer UI: money and small display helpers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from campaigns.forms import usd as _usd
from campaigns.forms import usd_short as _usd_short

register = template.Library()


@register.filter
def usd(value: Decimal | str | None, places: int = 6) -> str:
    """``{{ g.cost_usd|usd }}`` -> ``0.001235``; ``{{ x|usd:4 }}`` rounds to 4 places."""
    return _usd(value, int(places))


@register.filter
def usd_short(value: Decimal | str | None) -> str:
    """A budget or price: ``5`` -> ``5.00``, ``0.125`` -> ``0.125``."""
    return _usd_short(value)


@register.filter
def stars(value: Any) -> range:
    """``{% for n in 5|stars %}`` -> 1..5."""
    return range(1, int(value) + 1)
