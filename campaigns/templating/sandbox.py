"""The sandbox prompts render in: one Liquid environment, its tags, filters and limits.

- No loader, no file system: ``include``, ``render``, ``extends``, ``debug`` … are refused
  when a template is parsed (:data:`REFUSED_TAGS`); other tags are those of :data:`TAGS`.
- Filters are those of :data:`FILTERS`, each bounded: no range longer than the loop limit
  goes in, no string or list over :data:`MAX_VALUE_CHARS` and no number over
  :data:`MAX_NUMBER_BITS` comes out, and all filters of one render together take in and
  make at most :data:`MAX_FILTER_WORK` characters (:func:`filter_work`).
- Loops: :data:`MAX_LOOP_ITERATIONS` nested (multiplied) and in total; blocks nest at most
  :data:`MAX_NESTING` deep; ``assign``/``capture`` hold at most :data:`MAX_LOCALS_BYTES`;
  the output stream is bounded by the caller's prompt limit; a render past
  :data:`MAX_RENDER_SECONDS` stops at the next node.
- Undefined values are false in ``{% if %}``, give way to ``| default`` and are an error
  anywhere else.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from liquid import BoundTemplate, Environment, FalsyStrictUndefined, RenderContext
from liquid.builtin import register as register_builtins
from liquid.exceptions import LiquidError, LiquidSyntaxError, LoopIterationLimitError, ResourceLimitError
from liquid.extra.filters import JSON
from liquid.stream import TokenStream
from liquid.tag import Tag

__all__ = [
    "FILTERS",
    "MAX_FILTER_WORK",
    "MAX_LOCALS_BYTES",
    "MAX_LOOP_ITERATIONS",
    "MAX_NESTING",
    "MAX_NUMBER_BITS",
    "MAX_RENDER_SECONDS",
    "MAX_VALUE_CHARS",
    "REFUSED_TAGS",
    "TAGS",
    "PromptEnvironment",
    "RenderTimeout",
    "ValueTooLarge",
    "environment",
    "filter_work",
]

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



class ValueTooLarge(ResourceLimitError):
    """A filter would make a string, list or number larger than the limits allow."""


class _Undefined(FalsyStrictUndefined):
    """Missing values are false in ``{% if %}``, give way to ``| default``, and are an error anywhere else."""

    force_liquid_default = True


class RenderTimeout(ResourceLimitError):
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

    @property
    def disabled_tags(self) -> list[str]:
        if time.monotonic() > self.deadline:
            raise RenderTimeout("render time limit reached", token=None)
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
        raise ValueTooLarge(
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
                raise ValueTooLarge(
                    f"filter '{name}' was given a range of {len(arg):,} numbers (the limit is {MAX_LOOP_ITERATIONS:,})",
                    token=None,
                )
        if precheck is not None and precheck(value, *args) > MAX_VALUE_CHARS:
            raise ValueTooLarge(
                f"filter '{name}' would make more than {MAX_VALUE_CHARS:,} characters (the value limit)", token=None
            )
        _spend_work(name, _size(value))
        result = func(value, *args, **kwargs)
        problem = _too_large(result)
        if problem:
            raise ValueTooLarge(f"filter '{name}' made {problem} (the value limit)", token=None)
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
    output_stream_limit = 32_000 * 4  # UTF-8 bytes; environment() sets the caller's
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
def environment(output_bytes: int) -> PromptEnvironment:
    """The environment whose output (rendered text and captures) stops at ``output_bytes``."""

    class Bounded(PromptEnvironment):
        output_stream_limit = output_bytes  # also bounds {% capture %}

    return Bounded(undefined=_Undefined, strict_filters=True, autoescape=False)


@contextmanager
def filter_work() -> Iterator[None]:
    """Give the filters of the render inside the block :data:`MAX_FILTER_WORK` to spend."""
    token = _work_left.set([MAX_FILTER_WORK])
    try:
        yield
    finally:
        _work_left.reset(token)
