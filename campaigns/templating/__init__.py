"""Prompt templates: Liquid over ``product.*`` and ``language``, for untrusted authors.

The one place templates are checked and rendered. The language is sandboxed and bounded
(:mod:`campaigns.templating.sandbox`, on `python-liquid <https://jg-rp.github.io/liquid/>`_):

- no loader and no file system: ``include``, ``render``, ``extends`` and the like are
  refused when the template is saved;
- only the tags and filters a prompt needs;
- nothing but ``product`` (``name``, ``description``, ``attributes``, ``language``) and
  ``language`` to read, checked when the template is saved (static analysis), with the
  line and column of an unknown variable, filter or syntax error;
- strict undefined values: printing an attribute a product does not have is an error
  naming it (``{% if %}`` and ``| default`` test for it);
- limits: source size (``COPYGEN_MAX_TEMPLATE_CHARS``), rendered size per prompt
  (``COPYGEN_MAX_PROMPT_CHARS``), loop iterations, nesting, assigned values, filter
  output and render time.

:mod:`campaigns.templating.from_django` converts the former Django template syntax.

Errors::

    ValidationError (django)
     └── TemplateRenderError    a template that cannot render for a product: names it and the limit
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from liquid import BoundTemplate
from liquid.exceptions import (
    BlockNestingError,
    ContextDepthError,
    LiquidError,
    LocalNamespaceLimitError,
    LoopIterationLimitError,
    OutputStreamLimitError,
    UndefinedError,
)
from liquid.span import Span
from liquid.static_analysis import TemplateAnalysis

from campaigns.templating.sandbox import (
    FILTERS,
    MAX_LOCALS_BYTES,
    MAX_LOOP_ITERATIONS,
    MAX_NESTING,
    MAX_RENDER_SECONDS,
    TAGS,
    RenderTimeout,
    ValueTooLarge,
    environment,
    filter_work,
)

__all__ = [
    "FILTERS",
    "MAX_LOOP_ITERATIONS",
    "MAX_NESTING",
    "PRODUCT_FIELDS",
    "ROOT_VARIABLES",
    "TAGS",
    "TemplateRenderError",
    "max_prompt_chars",
    "max_template_chars",
    "render_template",
    "template_variables",
    "validate_template_source",
]

PRODUCT_FIELDS = ("name", "description", "attributes", "language")
ROOT_VARIABLES = ("product", "language")
TEXT_FIELDS = ("name", "description", "language")
TEXT_PROPERTIES = ("size",)  # what Liquid offers on a string, e.g. product.name.size

DEFAULT_MAX_TEMPLATE_CHARS = 20_000
DEFAULT_MAX_PROMPT_CHARS = 32_000



def max_template_chars() -> int:
    return int(getattr(settings, "COPYGEN_MAX_TEMPLATE_CHARS", DEFAULT_MAX_TEMPLATE_CHARS))


def max_prompt_chars() -> int:
    return int(getattr(settings, "COPYGEN_MAX_PROMPT_CHARS", DEFAULT_MAX_PROMPT_CHARS))


class TemplateRenderError(ValidationError):
    """A template that cannot be rendered for a product; the message names the template and the limit."""

    def __init__(self, message: str, *, template: str = "", limit: str = "") -> None:
        super().__init__(message, code=limit or "render")
        self.template = template
        self.limit = limit




def _line_col(source: str, index: int) -> str:
    if index < 0:
        return ""
    try:
        line, column = Span("", index).line_col(source)
    except ValueError:
        return ""
    return f"line {line}, column {column + 1}"


def _at(source: str, index: int | None) -> str:
    if index is not None and index >= len(source):
        return f" at the end (line {source.count(chr(10)) + 1})"
    where = _line_col(source, index) if index is not None else ""
    return f" at {where}" if where else ""


def _error_index(exc: LiquidError) -> int | None:
    token = exc.token
    if token is None or token.start_index < 0:
        return None
    return int(token.start_index)


def _size_check(source: str) -> None:
    limit = max_template_chars()
    if len(source) > limit:
        raise ValidationError(
            f"the template has {len(source):,} characters; the limit (COPYGEN_MAX_TEMPLATE_CHARS) is {limit:,}",
            code="COPYGEN_MAX_TEMPLATE_CHARS",
        )


@functools.lru_cache(maxsize=256)
def _parse(source: str, output_bytes: int) -> BoundTemplate:
    return environment(output_bytes).from_string(source)


def _compile(source: str) -> BoundTemplate:
    _size_check(source)
    try:
        # Rendered text counts in characters; the stream counts UTF-8 bytes (at most 4 a character).
        return _parse(source, max_prompt_chars() * 4)
    except BlockNestingError as exc:
        raise ValidationError(
            f"blocks are nested more than {MAX_NESTING} deep{_at(source, _error_index(exc))}", code="nesting"
        ) from exc
    except LiquidError as exc:
        message = str(exc.message)
        index = _error_index(exc)
        # No position left: the parser reached the end of the template (an unclosed block).
        where = _at(source, len(source) if index is None else index)
        raise ValidationError(f"template syntax error{where}: {message}", code="syntax") from exc
    except RecursionError as exc:  # defensive: the nesting limit comes first
        raise ValidationError(f"blocks are nested more than {MAX_NESTING} deep", code="nesting") from exc


def _path(segments: Iterable[object]) -> str:
    parts: list[str] = []
    for segment in segments:
        if isinstance(segment, list):
            parts.append(f"[{_path(segment)}]")
        elif isinstance(segment, int):
            parts.append(f"[{segment}]")
        else:
            parts.append(f".{segment}" if parts else str(segment))
    return "".join(parts)


def _free_variables(analysis: TemplateAnalysis) -> list[tuple[list[object], int]]:
    """The global variables a template reads, as segments and source index, in source order."""
    found: list[tuple[list[object], int]] = [(list(v.segments), v.span.index) for variables in analysis.globals.values() for v in variables]
    return sorted(found, key=lambda item: item[1])


def template_variables(source: str) -> list[str]:
    """Paths of the variables ``source`` reads from the context, in order of appearance.

    Names the template binds itself (loop variables, ``assign``, ``capture``) are left out.
    """
    names: list[str] = []
    for segments, _index in _free_variables(_compile(source).analyze(include_partials=False)):
        name = _path(segments)
        if name not in names:
            names.append(name)
    return names


def _variable_problem(segments: list[object]) -> str:
    name = _path(segments)
    root = segments[0]
    if root not in ROOT_VARIABLES:
        return f"unknown variable '{name}': use product.<{'|'.join(PRODUCT_FIELDS)}> or language"
    if root == "language":
        if len(segments) > 1 and segments[1:] != ["size"]:
            return f"unknown variable '{name}': language has no attributes"
        return ""
    if len(segments) == 1:
        return ""
    field = segments[1]
    if field not in PRODUCT_FIELDS:
        return (
            f"unknown variable '{name}': a product has {', '.join(PRODUCT_FIELDS)} "
            f"(its attributes are product.attributes.<key>)"
        )
    if field in TEXT_FIELDS and len(segments) > 2 and (len(segments) > 3 or segments[2] not in TEXT_PROPERTIES):
        return f"unknown variable '{name}': product.{field} is text (use product.{field}.size for its length)"
    return ""


def validate_template_source(source: str) -> None:
    """Raise :class:`ValidationError` naming the first problem, with its line and column.

    Problems: the size limit, a syntax error (a refused tag such as ``include`` is one),
    an unknown variable, an unknown filter.
    """
    analysis = _compile(source).analyze(include_partials=False)
    for segments, index in _free_variables(analysis):
        problem = _variable_problem(segments)
        if problem:
            raise ValidationError(f"{problem}{_at(source, index)}", code="unknown_variable")
    for name, spans in analysis.filters.items():
        if name not in FILTERS:
            raise ValidationError(
                f"unknown filter '{name}'{_at(source, spans[0].index)}: prompts have {', '.join(FILTERS)}",
                code="unknown_filter",
            )


def _render_problem(exc: Exception, source: str) -> tuple[str, str]:
    """What went wrong, for a person, and the name of the limit (or kind of error)."""
    at = _at(source, _error_index(exc)) if isinstance(exc, LiquidError) else ""
    if isinstance(exc, OutputStreamLimitError):
        return f"the prompt would be longer than {max_prompt_chars():,} characters (COPYGEN_MAX_PROMPT_CHARS)", (
            "COPYGEN_MAX_PROMPT_CHARS"
        )
    if isinstance(exc, RenderTimeout):
        return f"rendering took longer than {MAX_RENDER_SECONDS:g} s (the render time limit){at}", "render_time"
    if isinstance(exc, LoopIterationLimitError):
        return f"loops would run more than {MAX_LOOP_ITERATIONS:,} iterations (the loop limit){at}", "loop_iterations"
    if isinstance(exc, ContextDepthError):
        return f"blocks are nested more than {MAX_NESTING} deep{at}", "nesting"
    if isinstance(exc, LocalNamespaceLimitError):
        return f"assigned values hold more than {MAX_LOCALS_BYTES:,} bytes (the assign limit){at}", "assign_size"
    if isinstance(exc, ValueTooLarge):
        return f"{exc.message}{at}", "value_size"
    if isinstance(exc, UndefinedError):
        return (
            f"{exc.message}{at}: test it with {{% if %}} or give it a | default",
            "undefined",
        )
    if isinstance(exc, LiquidError):
        return f"{exc.message}{at}", "render"
    if isinstance(exc, RecursionError):
        return "a value is nested too deeply to print", "nesting"
    return f"{type(exc).__name__}: {exc}", "render"


def render_template(source: str, *, product: Mapping[str, Any], language: str, name: str = "") -> str:
    """``source`` rendered for ``product`` in ``language``, stripped.

    Raises :class:`TemplateRenderError` naming the template (``name``) and the limit or
    problem when it cannot be rendered within the limits.
    """
    label = f"template '{name}'" if name else "the template"
    product_name = str(product.get("name", ""))[:80]
    try:
        template = _compile(source)
    except ValidationError as exc:
        raise TemplateRenderError(f"{label}: {exc.messages[0]}", template=name, limit=str(exc.code or "")) from exc
    try:
        with filter_work():
            text = template.render(product=dict(product), language=language)
    except Exception as exc:  # noqa: BLE001 - an untrusted template: every failure is the author's to fix
        problem, limit = _render_problem(exc, source)
        raise TemplateRenderError(
            f"{label} cannot be rendered for product '{product_name}': {problem}", template=name, limit=limit
        ) from exc
    text = text.strip()
    if len(text) > max_prompt_chars():
        raise TemplateRenderError(
            f"{label} cannot be rendered for product '{product_name}': the prompt would be "
            f"{len(text):,} characters; the limit (COPYGEN_MAX_PROMPT_CHARS) is {max_prompt_chars():,}",
            template=name,
            limit="COPYGEN_MAX_PROMPT_CHARS",
        )
    return text
