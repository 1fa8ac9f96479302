"""Products: the one set of rules for what a product may hold, and saving one.

Every way in -- the UI form, the REST API, the admin and the CSV importers -- checks a
product with :func:`product_problems` (the model's ``clean`` calls it, so ``full_clean``
and every ModelForm apply it; the importers call it per row). Text must be storable
(no NUL characters, no lone surrogates) and bounded; ``attributes`` must be a JSON object
of at most :data:`MAX_ATTRIBUTES_BYTES` and :data:`MAX_ATTRIBUTES_DEPTH` levels, with
finite numbers only. Nothing here recurses, so a hostile value cannot exhaust the stack.

Reading is bounded too: :func:`json_too_deep` scans stored JSON text before it is decoded
(``campaigns.models.AttributesField``), so a row written before these rules cannot make
every page that lists products fail.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError

from campaigns.services.errors import full_clean_or_invalid

if TYPE_CHECKING:
    from campaigns.models import Product

__all__ = [
    "MAX_ATTRIBUTES_BYTES",
    "MAX_ATTRIBUTES_DEPTH",
    "MAX_DESCRIPTION_CHARS",
    "MAX_LANGUAGE_CHARS",
    "MAX_NAME_CHARS",
    "attributes_problem",
    "json_too_deep",
    "product_problems",
    "product_save",
    "text_problem",
]

MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 100_000
MAX_LANGUAGE_CHARS = 35
MAX_ATTRIBUTES_BYTES = 64 * 1024  # as compact JSON, UTF-8
MAX_ATTRIBUTES_DEPTH = 10  # the object itself is level 1
PRODUCT_FIELDS = ("name", "description", "attributes", "language")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no lone surrogates)"
    return None


def attributes_problem(value: Any) -> str | None:
    """Why ``value`` is not acceptable product attributes, or None. Iterative: no recursion."""
    if not isinstance(value, dict):
        return "must be a JSON object"
    stack: list[tuple[Any, int]] = [(value, 1)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > MAX_ATTRIBUTES_BYTES:  # every value takes at least one byte
            return f"must be at most {MAX_ATTRIBUTES_BYTES} bytes of JSON"
        if isinstance(item, dict | list):
            if depth > MAX_ATTRIBUTES_DEPTH:
                return f"must be nested at most {MAX_ATTRIBUTES_DEPTH} levels deep"
            children = list(item.items()) if isinstance(item, dict) else [(None, v) for v in item]
            for key, child in children:
                if key is not None:
                    if not isinstance(key, str):
                        return "keys must be strings"
                    problem = text_problem(key)
                    if problem:
                        return f"keys {problem}"
                stack.append((child, depth + 1))
        elif isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return f"text {problem}"
        elif isinstance(item, float) and not math.isfinite(item):
            return "numbers must be finite (no NaN or Infinity)"
        elif item is not None and not isinstance(item, bool | int | float):
            return "must hold only JSON values"
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > MAX_ATTRIBUTES_BYTES:
        return f"must be at most {MAX_ATTRIBUTES_BYTES} bytes of JSON (this is {size})"
    return None


def product_problems(*, name: str, description: str, attributes: Any, language: str) -> dict[str, str]:
    """Every field of a product that breaks the rules, with why (empty when it is fine).

    The messages do not repeat the field's name: the API shows ``field: message``, the
    importers the file's column beside the message, the forms the message under the field.
    """
    problems: dict[str, str] = {}
    for field, value, limit in (
        ("name", name, MAX_NAME_CHARS),
        ("description", description, MAX_DESCRIPTION_CHARS),
        ("language", language, MAX_LANGUAGE_CHARS),
    ):
        if not isinstance(value, str):
            problems[field] = "must be text"
        elif len(value) > limit:
            problems[field] = f"longer than {limit} characters"
        elif problem := text_problem(value):
            problems[field] = problem
    if problem := attributes_problem(attributes):
        problems["attributes"] = problem
    return problems


def product_check(product: Product) -> None:
    """Raise a ValidationError naming each field of ``product`` that breaks the rules."""
    problems = product_problems(
        name=product.name, description=product.description, attributes=product.attributes, language=product.language
    )
    if problems:
        raise ValidationError(problems)


def product_save(*, product: Product, **fields: Any) -> Product:
    """Set ``fields`` on ``product``, check it (InvalidInput naming the field) and save it."""
    unknown = set(fields) - set(PRODUCT_FIELDS)
    if unknown:
        raise TypeError(f"product_save: unknown fields {sorted(unknown)}")
    for name, value in fields.items():
        setattr(product, name, value)
    full_clean_or_invalid(product, exclude=["owner"])
    product.save()
    return product


def json_too_deep(text: str, limit: int) -> bool:
    """Whether the JSON document ``text`` nests more than ``limit`` levels (a linear scan, no decoding)."""
    if text.count("{") + text.count("[") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
            if depth > limit:
                return True
        elif char in "}]":
            depth -= 1
    return False
