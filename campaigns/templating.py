"""Prompt templates: Liquid over ``product.*`` and ``language``, for untrusted authors.

Templates are written by marketers, so the language is sandboxed and bounded
(`python-liquid <https://jg-rp.github.io/liquid/>`_):

- no loader and no file system: ``include``, ``render``, ``extends`` and the like
  are not tags here, and saving a template that uses one is refused;
- only the tags and filters a prompt needs (:data:`TAGS`, :data:`FILTERS`);
- nothing but ``product`` (``name``, ``description``, ``attributes``, ``language``)
  and ``language`` to read, checked when the template is saved (static analysis),
  with the line and column of an unknown variable, filter or syntax error;
- strict undefined values: printing an attribute a product does not have is an
  error naming it (``{% if %}`` and ``| default`` test for it);
- limits: source size (``COPYGEN_MAX_TEMPLATE_CHARS``), rendered size per prompt
  (``COPYGEN_MAX_PROMPT_CHARS``), loop iterations (nested and in total), block
  nesting, assigned values and the size of any one value a filter makes.

Errors::

    ValidationError (django)
     └── TemplateRenderError    a template that cannot render for a product: names it and the limit
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from liquid import BoundTemplate, Environment, FalsyStrictUndefined, RenderContext
from liquid.builtin import register as register_builtins
from liquid.exceptions import (
    BlockNestingError,
    ContextDepthError,
    LiquidError,
    LiquidSyntaxError,
    LocalNamespaceLimitError,
    LoopIterationLimitError,
    OutputStreamLimitError,
    ResourceLimitError,
    UndefinedError,
)
from liquid.extra.filters import JSON
from liquid.span import Span
from liquid.stream import TokenStream
from liquid.tag import Tag

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
MAX_LOOP_ITERATIONS = 10_000  # all loops of one render together, and nested loops multiplied
MAX_NESTING = 20  # blocks ({% if %}, {% for %} ...) inside one another
MAX_LOCALS_BYTES = 256_000  # what {% assign %} and {% capture %} hold at once
MAX_VALUE_CHARS = 1_000_000  # any one string or list a filter makes
MAX_NUMBER_BITS = 1_024  # any one integer a filter makes (about 300 digits)
MAX_RENDER_SECONDS = 1.0  # a backstop for one prompt: the limits above come first for any template seen so far
MAX_FILTER_WORK = 20_000_000  # characters or items all filters of one render take in and make, together

TAGS = (
    "if", "unless", "case", "for", "break", "continue", "assign", "capture",
    "echo", "liquid", "comment", "#",
)  # fmt: skip
"""The tags a prompt may use (and their inner tags: elsif, else, when, endfor ...)."""

FILTERS = (
    # text
    "append", "prepend", "capitalize", "downcase", "upcase", "strip", "lstrip", "rstrip",
    "strip_newlines", "squish", "replace", "replace_first", "replace_last", "remove",
    "remove_first", "remove_last", "truncate", "truncatewords", "split", "slice",
    # lists
    "join", "first", "last", "size", "sort", "sort_natural", "reverse", "uniq", "compact",
    "map", "where", "concat",
    # numbers
    "plus", "minus", "times", "divided_by", "modulo", "round", "ceil", "floor", "abs",
    "at_least", "at_most",
    # values
    "default", "json",
)  # fmt: skip
"""The filters a prompt may use."""

PSEUDO_TAGS = ("content", "output", "illegal")  # text and {{ }} are "tags" to the parser

REFUSED_TAGS = {
    "include": "a prompt has no other templates to include",
    "render": "a prompt has no other templates to render",
    "extends": "a prompt has no parent template",
    "block": "a prompt has no parent template",
    "layout": "a prompt has no layout",
    "section": "a prompt has no sections",
    "debug": "a prompt shows nothing but the product and the language",
}


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


class _ValueTooLarge(ResourceLimitError):
    """A filter would make a string, list or number larger than the limits allow."""


class _Undefined(FalsyStrictUndefined):
    """Missing values are false in ``{% if %}``, give way to ``| default``, and are an error anywhere else."""

    force_liquid_default = True


class _RenderTimeout(ResourceLimitError):
    """A render ran past :data:`MAX_RENDER_SECONDS`."""


class _Context(RenderContext):
    """A render context that counts the iterations of all its loops together, and has a deadline.

    Liquid reads ``disabled_tags`` before rendering every node: that is where the
    deadline is checked, so no loop body, however slow, runs long past it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.deadline = time.monotonic() + MAX_RENDER_SECONDS
        self.iterations_total = 0
        super().__init__(*args, **kwargs)

    @property  # type: ignore[override]
    def disabled_tags(self) -> list[str]:
        if time.monotonic() > self.deadline:
            raise _RenderTimeout("render time limit reached", token=None)
        return self._disabled_tags

    @disabled_tags.setter
    def disabled_tags(self, tags: list[str]) -> None:
        self._disabled_tags = tags

    def raise_for_loop_limit(self, length: int = 1) -> None:
        super().raise_for_loop_limit(length)
        self.iterations_total += length
        if self.iterations_total > MAX_LOOP_ITERATIONS:
            raise LoopIterationLimitError("loop iteration limit reached", token=None)


class _Template(BoundTemplate):
    context_class = _Context


class _RefusedTag(Tag):
    """A tag of Liquid that prompt templates don't have: refused when the template is parsed."""

    block = False
    reason = ""

    def parse(self, stream: TokenStream) -> Any:
        raise LiquidSyntaxError(f"'{self.name}' is not available in prompt templates: {self.reason}", token=stream.current)


# The filter work left to the render in progress (one list per render: filters can't see the context).
_work_left: ContextVar[list[int]] = ContextVar("prompt_filter_work_left")


def _size(value: object) -> int:
    return len(value) if isinstance(value, (str, list, tuple, dict)) else 1


def _spend_work(name: str, amount: int) -> None:
    left = _work_left.get(None)
    if left is None:
        return
    left[0] -= amount
    if left[0] < 0:
        raise _ValueTooLarge(
            f"filters would process more than {MAX_FILTER_WORK:,} characters in all (the filter work limit)",
            token=None,
        )


def _too_large(value: object) -> str:
    if isinstance(value, (str, list, tuple, dict, range)) and len(value) > MAX_VALUE_CHARS:
        return f"a value of {len(value):,} characters or items (the limit is {MAX_VALUE_CHARS:,})"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_NUMBER_BITS:
        return f"a number of more than {MAX_NUMBER_BITS:,} bits"
    return ""


def _replace_size(value: object, old: object = "", new: object = "") -> int:
    if not all(isinstance(v, (str, int, float)) for v in (value, old, new)):
        return 0
    text, old_text, new_text = str(value), str(old), str(new)
    count = text.count(old_text) if old_text else len(text) + 1
    return len(text) + count * (len(new_text) - len(old_text))


def _join_size(value: object, separator: object = " ") -> int:
    if isinstance(value, (list, tuple, range)) and isinstance(separator, str):
        return max(len(value) - 1, 0) * len(separator)
    return 0


# What a filter would make, known before it makes it (the others only grow additively).
_PRECHECKS: dict[str, Callable[..., int]] = {"replace": _replace_size, "join": _join_size}


def _bounded(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` refusing ranges longer than the loop limit and results larger than the value limits."""
    precheck = _PRECHECKS.get(name)

    @functools.wraps(func)
    def bounded(value: object, *args: Any, **kwargs: Any) -> Any:
        for arg in (value, *args):
            if type(arg) is range and len(arg) > MAX_LOOP_ITERATIONS:
                raise _ValueTooLarge(
                    f"filter '{name}' was given a range of {len(arg):,} numbers (the limit is {MAX_LOOP_ITERATIONS:,})",
                    token=None,
                )
        if precheck is not None and precheck(value, *args) > MAX_VALUE_CHARS:
            raise _ValueTooLarge(
                f"filter '{name}' would make more than {MAX_VALUE_CHARS:,} characters (the value limit)", token=None
            )
        _spend_work(name, _size(value))
        result = func(value, *args, **kwargs)
        problem = _too_large(result)
        if problem:
            raise _ValueTooLarge(f"filter '{name}' made {problem} (the value limit)", token=None)
        _spend_work(name, _size(result))
        return result

    bounded.__dict__.pop("filter_async", None)  # rendering is synchronous: one path to bound
    return bounded


class PromptEnvironment(Environment):
    """The one Liquid environment prompts are parsed and rendered in."""

    block_nesting_limit = MAX_NESTING
    context_depth_limit = MAX_NESTING + 10  # one scope per loop, plus the template's own
    loop_iteration_limit = MAX_LOOP_ITERATIONS
    local_namespace_limit = MAX_LOCALS_BYTES
    output_stream_limit = DEFAULT_MAX_PROMPT_CHARS * 4  # UTF-8 bytes; _environment() sets it from the setting
    template_class = _Template

    def error(self, exc: Any, msg: str | None = None, token: Any = None) -> None:
        # An error inside an expression carries a token of that expression alone (no position):
        # give it the position of the markup the parser was reading, for "line N, column M".
        if isinstance(exc, LiquidError) and token is not None and token.start_index >= 0:
            if exc.token is None or exc.token.start_index < 0:
                exc.token = token
        super().error(exc, msg, token)

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        register_builtins(self)
        self.filters["json"] = JSON()
        self.tags = {name: tag for name, tag in self.tags.items() if name in TAGS or name in PSEUDO_TAGS}
        for name, reason in REFUSED_TAGS.items():
            refused = type(f"Refused_{name}", (_RefusedTag,), {"name": name, "reason": reason})
            self.tags[name] = refused(self)
        self.filters = {name: _bounded(name, self.filters[name]) for name in FILTERS}


@functools.lru_cache(maxsize=4)
def _environment(output_bytes: int) -> PromptEnvironment:
    env = PromptEnvironment(undefined=_Undefined, strict_filters=True, autoescape=False)
    env.output_stream_limit = output_bytes  # also bounds {% capture %}
    return env


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
    return _environment(output_bytes).from_string(source)


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


def _free_variables(template: BoundTemplate) -> list[tuple[list[object], int]]:
    """The global variables ``template`` reads, as segments and source index, in source order."""
    analysis = template.analyze(include_partials=False)
    found = [(list(v.segments), v.span.index) for variables in analysis.globals.values() for v in variables]
    return sorted(found, key=lambda item: item[1])


def template_variables(source: str) -> list[str]:
    """Paths of the variables ``source`` reads from the context, in order of appearance.

    Names the template binds itself (loop variables, ``assign``, ``capture``) are left out.
    """
    names: list[str] = []
    for segments, _index in _free_variables(_compile(source)):
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
    template = _compile(source)
    for segments, index in _free_variables(template):
        problem = _variable_problem(segments)
        if problem:
            raise ValidationError(f"{problem}{_at(source, index)}", code="unknown_variable")
    filters = template.analyze(include_partials=False).filters
    for name, spans in filters.items():
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
    if isinstance(exc, _RenderTimeout):
        return f"rendering took longer than {MAX_RENDER_SECONDS:g} s (the render time limit){at}", "render_time"
    if isinstance(exc, LoopIterationLimitError):
        return f"loops would run more than {MAX_LOOP_ITERATIONS:,} iterations (the loop limit){at}", "loop_iterations"
    if isinstance(exc, ContextDepthError):
        return f"blocks are nested more than {MAX_NESTING} deep{at}", "nesting"
    if isinstance(exc, LocalNamespaceLimitError):
        return f"assigned values hold more than {MAX_LOCALS_BYTES:,} bytes (the assign limit){at}", "assign_size"
    if isinstance(exc, _ValueTooLarge):
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
    work = _work_left.set([MAX_FILTER_WORK])
    try:
        text = template.render(product=dict(product), language=language)
    except Exception as exc:  # noqa: BLE001 - an untrusted template: every failure is the author's to fix
        problem, limit = _render_problem(exc, source)
        raise TemplateRenderError(
            f"{label} cannot be rendered for product '{product_name}': {problem}", template=name, limit=limit
        ) from exc
    finally:
        _work_left.reset(work)
    text = text.strip()
    if len(text) > max_prompt_chars():
        raise TemplateRenderError(
            f"{label} cannot be rendered for product '{product_name}': the prompt would be "
            f"{len(text):,} characters; the limit (COPYGEN_MAX_PROMPT_CHARS) is {max_prompt_chars():,}",
            template=name,
            limit="COPYGEN_MAX_PROMPT_CHARS",
        )
    return text
