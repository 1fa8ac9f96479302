"""Prompt templates: Django template syntax over ``product.*`` and ``language``.

Templates are validated when saved: a syntax error, or a variable other than
``product.<field>`` / ``language`` (or one bound by ``{% for %}`` / ``{% with %}``
inside the template), is rejected with a message naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.template import Context, Engine, Template, TemplateSyntaxError
from django.template.base import FilterExpression, Node, Variable, VariableNode
from django.template.defaulttags import ForNode, IfNode, WithNode

__all__ = ["PRODUCT_FIELDS", "ROOT_VARIABLES", "render_template", "template_variables", "validate_template_source"]

PRODUCT_FIELDS = ("name", "description", "attributes", "language")
ROOT_VARIABLES = ("product", "language")

# Prompts are plain text: no HTML escaping, and a missing attribute renders empty.
ENGINE = Engine(autoescape=False, string_if_invalid="", libraries={}, builtins=None)


def _compile(source: str) -> Template:
    try:
        return ENGINE.from_string(source)
    except TemplateSyntaxError as exc:
        raise ValidationError(f"template syntax error: {exc}") from exc


def _filter_variables(expr: FilterExpression) -> Iterable[str]:
    if isinstance(expr.var, Variable) and expr.var.lookups is not None:
        yield ".".join(expr.var.lookups)
    for _func, args in expr.filters:
        for is_lookup, arg in args:
            if is_lookup and isinstance(arg, Variable) and arg.lookups is not None:
                yield ".".join(arg.lookups)


def _node_expressions(node: Node) -> Iterable[FilterExpression]:
    if isinstance(node, VariableNode):
        yield node.filter_expression
    elif isinstance(node, ForNode):
        yield node.sequence
    elif isinstance(node, WithNode):
        yield from node.extra_context.values()
    elif isinstance(node, IfNode):
        for condition, _nodelist in node.conditions_nodelists:
            yield from _condition_expressions(condition)


def _condition_expressions(condition: Any) -> Iterable[FilterExpression]:
    if condition is None:
        return
    value = getattr(condition, "value", None)
    if isinstance(value, FilterExpression):
        yield value
    for side in ("first", "second"):
        child = getattr(condition, side, None)
        if child is not None:
            yield from _condition_expressions(child)


def _walk(nodes: Iterable[Node], bound: frozenset[str], found: list[tuple[str, frozenset[str]]]) -> None:
    for node in nodes:
        for expr in _node_expressions(node):
            for name in _filter_variables(expr):
                found.append((name, bound))
        inner = bound
        if isinstance(node, ForNode):
            inner = bound | set(node.loopvars) | {"forloop"}
        elif isinstance(node, WithNode):
            inner = bound | set(node.extra_context)
        for attr in node.child_nodelists:
            _walk(getattr(node, attr, None) or [], inner, found)


def template_variables(source: str) -> list[str]:
    """Dotted names of the free variables ``source`` uses, in order of appearance."""
    found: list[tuple[str, frozenset[str]]] = []
    _walk(_compile(source).nodelist, frozenset(), found)
    names: list[str] = []
    for name, bound in found:
        if name.split(".")[0] not in bound and name not in names:
            names.append(name)
    return names


def validate_template_source(source: str) -> None:
    """Raise :class:`ValidationError` naming the first unknown variable or the syntax error."""
    for name in template_variables(source):
        parts = name.split(".")
        if parts[0] not in ROOT_VARIABLES:
            raise ValidationError(
                f"unknown variable '{name}': use product.<{'|'.join(PRODUCT_FIELDS)}> or language"
            )
        if parts[0] == "language" and len(parts) > 1:
            raise ValidationError(f"unknown variable '{name}': language has no attributes")
        if parts[0] == "product" and len(parts) > 1 and parts[1] not in PRODUCT_FIELDS:
            raise ValidationError(
                f"unknown variable '{name}': a product has {', '.join(PRODUCT_FIELDS)} "
                f"(its attributes are product.attributes.<key>)"
            )


def render_template(source: str, *, product: Mapping[str, Any], language: str) -> str:
    return _compile(source).render(Context({"product": product, "language": language}, autoescape=False)).strip()
