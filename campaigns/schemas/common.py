"""Building blocks shared by every schema: input hygiene, ids, money, pages and errors."""

from __future__ import annotations

import math
import types
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Generic, TypeVar, Union, get_args, get_origin

from ninja import Schema
from pydantic import Field, GetJsonSchemaHandler, PlainSerializer, ValidationInfo, WithJsonSchema, field_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

__all__ = [
    "Budget",
    "DEFAULT_LIMIT",
    "ErrorOut",
    "IdList",
    "In",
    "Language",
    "MAX_ID",
    "MAX_LIMIT",
    "Money",
    "Name",
    "ObjectId",
    "PageOut",
    "PageParams",
    "PatchSchema",
    "Price",
    "RowErrorOut",
    "Search",
    "money_str",
]

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_OFFSET = 2**31 - 1
MAX_ID = 2**63 - 1  # a 64-bit primary key; larger numbers cannot name a row


def money_str(value: Decimal) -> str:
    """``Decimal("0.0001230000")`` -> ``"0.000123"``; never exponent notation."""
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", ""} else text


def decimal_string(max_digits: int, decimal_places: int) -> WithJsonSchema:
    """Document an amount as what clients should send: a decimal string that fits its column.

    JSON numbers are accepted too, but a float cannot promise its decimal places, so the
    schema shows only the lossless form.
    """
    whole = max_digits - decimal_places
    pattern = rf"^[0-9]{{1,{whole}}}(\.[0-9]{{1,{decimal_places}}})?$"
    return WithJsonSchema({"type": "string", "pattern": pattern}, mode="validation")


Budget = Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=10, allow_inf_nan=False), decimal_string(20, 10)]
Price = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=6, allow_inf_nan=False), decimal_string(14, 6)]
Money = Annotated[Decimal, PlainSerializer(money_str, return_type=str)]

Name = Annotated[str, Field(min_length=1, max_length=200)]
Language = Annotated[str, Field(min_length=1, max_length=35)]
Search = Annotated[str, Field(max_length=200, description="case-insensitive substring")]
ObjectId = Annotated[int, Field(ge=1, le=MAX_ID, examples=[1])]
IdList = Annotated[list[ObjectId], Field(max_length=1000)]


MAX_INPUT_DEPTH = 32  # JSON input nests at most this deep anywhere (product attributes: 10, checked by the service)


def _check_value(value: Any, path: str) -> None:
    """Reject what no database column stores: NUL characters, lone surrogates, NaN and infinities;
    and input nested deeper than :data:`MAX_INPUT_DEPTH`. Iterative: no input exhausts the stack."""
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError(f"{where}: text must not contain NUL characters")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"{where}: text must be valid Unicode (no lone surrogates)") from None
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"{where}: numbers must be finite")
        elif isinstance(item, dict | list | tuple):
            if depth >= MAX_INPUT_DEPTH:
                raise ValueError(f"{path}: nested more than {MAX_INPUT_DEPTH} levels deep")
            if isinstance(item, dict):  # pushed backwards: checked in document order
                for key, child in reversed(item.items()):
                    stack.append((child, f"{where}.{key}", depth + 1))
                    stack.append((key, where, depth + 1))
            else:
                stack.extend((child, where, depth + 1) for child in reversed(item))


def _strip(annotation: Any) -> list[Any]:
    """The types a field annotation admits, ``Annotated`` and unions unwrapped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _strip(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [t for arg in get_args(annotation) for t in _strip(arg)]
    return [annotation]


def _bool_where_a_number_goes(value: Any, annotation: Any) -> bool:
    """Whether ``value`` is (or a list of it holds) ``true``/``false`` where ``annotation`` takes no boolean.

    Pydantic reads ``true`` as 1 for an int or a float; JSON Schema's "integer" and "number"
    exclude booleans, so the API refuses them to match its schema.
    """
    admitted = _strip(annotation)
    if isinstance(value, bool):
        return not any(t is bool or t is Any for t in admitted)
    if isinstance(value, list):
        items = [get_args(t)[0] for t in admitted if get_origin(t) in (list, tuple, set) and get_args(t)]
        return any(_bool_where_a_number_goes(v, item) for item in items[:1] for v in value)
    return False


class In(Schema):
    """Input: every string, key and number anywhere in it must be storable as sent, and a
    boolean is never taken for a number."""

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        _check_value(value, str(info.field_name))
        field = cls.model_fields.get(str(info.field_name))
        if field is not None and _bool_where_a_number_goes(value, field.annotation):
            raise ValueError("must be a number, not true or false")
        return value


class PatchSchema(In):
    """Every field optional; a field that is sent must not be null unless listed in ``NULLABLE``."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.NULLABLE:
            raise ValueError(f"{info.field_name} may be omitted but not null")
        return value

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """Say in the OpenAPI schema what ``_not_null`` enforces: only ``NULLABLE`` fields take null."""
        json_schema = handler(core_schema)
        for name, prop in handler.resolve_ref_schema(json_schema).get("properties", {}).items():
            if name in cls.NULLABLE or {"type": "null"} not in prop.get("anyOf", ()):
                continue
            branches = [branch for branch in prop.pop("anyOf") if branch != {"type": "null"}]
            if len(branches) == 1:
                prop.update(branches[0])
            else:
                prop["anyOf"] = branches
            if "default" in prop and prop["default"] is None:
                del prop["default"]
        return json_schema


class ErrorOut(Schema):
    """Every error: what went wrong and, when one field is to blame, its name."""

    detail: str = Field(examples=["budget_usd: Input should be greater than or equal to 0"])
    field: str | None = Field(None, examples=["budget_usd"])


class RowErrorOut(Schema):
    """An error in one row of an uploaded file (rows are numbered as in a spreadsheet: header = 1)."""

    row: int
    field: str
    message: str


class PageParams(In):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="items per page")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="items to skip")


class PageOut(Schema, Generic[T]):
    """One page of a list; ``count`` is the number of items matching the filters."""

    items: list[T]
    count: int
