"""Converting prompt templates from Django template syntax to Liquid (used by a data migration).

What maps directly is converted: ``{{ product.name }}`` and other variables (``.0`` becomes
``[0]``, ``forloop.counter`` becomes ``forloop.index``), the common filters, ``{% if %}`` /
``{% elif %}`` / ``{% else %}`` with simple conditions, ``{% for %}`` (with ``{% empty %}``,
``reversed`` and ``k, v in ….items``), ``{% with %}`` (as ``{% assign %}``) and comments.
Django printed a missing value as nothing; Liquid here refuses to, so a value that may be
missing (an attribute) gets ``| default: ""``.

Anything else raises :class:`Unconvertible` with the reason: the caller keeps the template as
it was and marks it as needing attention.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from django.template.base import Lexer, Token, TokenType, filter_re

__all__ = ["Unconvertible", "convert_django_template"]

LIQUID_KEYWORDS = frozenset(
    {"and", "or", "not", "contains", "in", "true", "false", "nil", "null", "empty", "blank", "with", "as", "for"}
)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
NUMBER = re.compile(r"[-+]?\d+(\.\d+)?\Z")
FORLOOP = {
    "counter": "index",
    "counter0": "index0",
    "revcounter": "rindex",
    "revcounter0": "rindex0",
    "first": "first",
    "last": "last",
    "length": "length",
}
ALWAYS_DEFINED = {"product", "product.name", "product.description", "product.language", "product.attributes", "language"}
TEXT_PATHS = {"product.name", "product.description", "product.language", "language"}
COMPARISONS = {"==", "!=", "<", ">", "<=", ">="}


class Unconvertible(Exception):
    """A construct with no direct Liquid equivalent; the message says which."""


@dataclass
class _Scope:
    """Names bound by the enclosing ``for`` / ``with`` blocks, and what each stands for in Liquid."""

    names: dict[str, str] = field(default_factory=dict)


@dataclass
class _Block:
    tag: str
    end: str = ""  # what closes it in Liquid
    empty_from: int | None = None  # where the {% empty %} part starts in the output
    wrapped: str = ""  # the guard around a loop over a value that may be missing
    scope: _Scope | None = None


def _literal(bit: str) -> str | None:
    if bit[:1] in {'"', "'"} and bit[-1:] == bit[:1] and len(bit) >= 2:
        if "\\" in bit:
            raise Unconvertible(f"a string with escapes: {bit}")
        return bit
    if bit.startswith("_("):
        raise Unconvertible(f"a translated string: {bit}")
    if NUMBER.match(bit):
        return bit
    return {"None": "nil", "True": "true", "False": "false"}.get(bit)


def _segment(segment: str) -> str:
    if segment.isdigit():
        return f"[{segment}]"
    if IDENTIFIER.match(segment) and segment not in LIQUID_KEYWORDS:
        return f".{segment}"
    return f'["{segment}"]'


class _Converter:
    def __init__(self) -> None:
        self.scopes: list[_Scope] = [_Scope()]
        self.blocks: list[_Block] = []
        self.out: list[str] = []
        self.loop_names = 0

    # Variables -------------------------------------------------------------------------
    def bound(self, name: str) -> str | None:
        for scope in reversed(self.scopes):
            if name in scope.names:
                return scope.names[name]
        return None

    def path(self, dotted: str) -> tuple[str, bool]:
        """The Liquid path for a Django variable, and whether it is always defined."""
        segments = dotted.split(".")
        if not all(segments):
            raise Unconvertible(f"the variable {dotted!r}")
        root, rest = segments[0], segments[1:]
        if root in LIQUID_KEYWORDS or not IDENTIFIER.match(root):
            raise Unconvertible(f"the variable name {root!r}")
        if root == "forloop" and self.bound("forloop") is None:
            liquid = "forloop"
            while rest and rest[0] == "parentloop":
                liquid += ".parentloop"
                rest = rest[1:]
            if len(rest) != 1 or rest[0] not in FORLOOP:
                raise Unconvertible(f"forloop.{'.'.join(segments[1:])}")
            return f"{liquid}.{FORLOOP[rest[0]]}", True
        bound = self.bound(root)
        if bound is not None:
            if rest and rest[-1] in {"items", "keys", "values"}:
                raise Unconvertible(f"{dotted} outside a for loop")
            return bound + "".join(_segment(s) for s in rest), not rest
        if rest and rest[-1] in {"items", "keys", "values"}:
            raise Unconvertible(f"{dotted} outside a for loop")
        return root + "".join(_segment(s) for s in rest), dotted in ALWAYS_DEFINED

    def value(self, bit: str) -> tuple[str, bool]:
        literal = _literal(bit)
        if literal is not None:
            return literal, True
        return self.path(bit)

    # Filter expressions ----------------------------------------------------------------
    def expression(self, text: str, *, output: bool) -> str:
        """``var|filter:arg|…`` in Liquid; ``output`` adds a default to a value that may be missing."""
        base = ""
        defined = True
        filters: list[str] = []
        upto = 0
        for match in filter_re.finditer(text):
            if match.start() != upto:
                raise Unconvertible(f"the expression {text!r}")
            upto = match.end()
            if not base:
                if match["constant"]:
                    base = _literal(match["constant"]) or ""
                elif match["var"]:
                    base, defined = self.value(match["var"])
                if not base:
                    raise Unconvertible(f"the expression {text!r}")
                continue
            arg = match["constant_arg"] or match["var_arg"]
            filters.append(self.filter(match["filter_name"], self.value(arg)[0] if arg else None))
        if upto != len(text) or not base:
            raise Unconvertible(f"the expression {text!r}")
        filters = [f for f in filters if f]
        if output and not defined and not (filters and filters[0].startswith("default")):
            filters.insert(0, 'default: ""')
        return " | ".join([base, *filters])

    @staticmethod
    def filter(name: str, arg: str | None) -> str:
        def needs(liquid: str, render: Callable[[str], str] = lambda a: a) -> str:
            if arg is None:
                raise Unconvertible(f"the filter {name} without an argument")
            return f"{liquid}: {render(arg)}"

        simple = {"upper": "upcase", "lower": "downcase", "capfirst": "capitalize", "length": "size",
                  "first": "first", "last": "last"}  # fmt: skip
        if name in simple and arg is None:
            return simple[name]
        if name == "safe" and arg is None:
            return ""  # prompts were never escaped
        if name == "default":
            return needs("default")
        if name == "join":
            return needs("join")
        if name == "cut":
            return needs("remove")
        if name == "truncatechars":
            return needs("truncate", lambda a: f'{a}, "…"')
        if name == "truncatewords":
            return needs("truncatewords", lambda a: f'{a}, " …"')
        if name == "add" and arg is not None and NUMBER.match(arg):
            return f"plus: {arg}"
        raise Unconvertible(f"the filter {name}{':' + arg if arg else ''} has no direct Liquid equivalent")

    # Conditions ------------------------------------------------------------------------
    def operand(self, bits: list[str]) -> str:
        if any("|" in b for b in bits):
            raise Unconvertible("a filter inside a condition")
        if len(bits) == 1:
            value, _defined = self.value(bits[0])
            # Django's empty text is false, Liquid's is true: say what Django meant.
            return f"{value} != blank" if value in TEXT_PATHS else value
        if len(bits) == 2 and bits[0] == "not":
            value, _defined = self.value(bits[1])
            if value in TEXT_PATHS:
                return f"{value} == blank"
            if value in {"forloop.first", "forloop.last"}:
                return f"{value} == false"
            raise Unconvertible(f"'not {bits[1]}' (Liquid has no not)")
        if len(bits) == 3 and bits[1] in COMPARISONS:
            return f"{self.value(bits[0])[0]} {bits[1]} {self.value(bits[2])[0]}"
        if len(bits) == 3 and bits[1] == "in":
            return f"{self.value(bits[2])[0]} contains {self.value(bits[0])[0]}"
        if bits[1:] == ["is", "None"]:
            return f"{self.value(bits[0])[0]} == nil"
        if bits[1:] == ["is", "not", "None"]:
            return f"{self.value(bits[0])[0]} != nil"
        raise Unconvertible(f"the condition {' '.join(bits)!r}")

    def condition(self, bits: list[str]) -> str:
        if not bits:
            raise Unconvertible("an empty condition")
        if "and" in bits and "or" in bits:
            raise Unconvertible("a condition mixing and/or (Liquid reads them right to left)")
        joiner = "and" if "and" in bits else "or"
        parts: list[list[str]] = [[]]
        for bit in bits:
            if bit == joiner:
                parts.append([])
            else:
                parts[-1].append(bit)
        if any(not p for p in parts):
            raise Unconvertible(f"the condition {' '.join(bits)!r}")
        return f" {joiner} ".join(self.operand(p) for p in parts)

    # Tags --------------------------------------------------------------------------------
    def tag(self, token: Token) -> None:
        bits = token.split_contents()
        name = bits[0] if bits else ""
        if name == "if":
            self.blocks.append(_Block("if", "{% endif %}"))
            self.out.append(f"{{% if {self.condition(bits[1:])} %}}")
        elif name == "elif":
            self.expect("if", name)
            self.out.append(f"{{% elsif {self.condition(bits[1:])} %}}")
        elif name == "else":
            self.expect("if", name)
            self.out.append("{% else %}")
        elif name == "endif":
            self.expect("if", name)
            self.out.append(self.blocks.pop().end)
        elif name == "for":
            self.for_tag(bits)
        elif name == "empty":
            block = self.expect("for", name)
            self.out.append("{% else %}")
            block.empty_from = len(self.out)
        elif name == "endfor":
            self.endfor(self.expect("for", name))
        elif name == "with":
            self.with_tag(bits)
        elif name == "endwith":
            self.expect("with", name)
            self.blocks.pop()
            self.scopes.pop()
        else:
            raise Unconvertible(f"the tag {{% {name} %}} has no Liquid equivalent in prompts")

    def expect(self, tag: str, name: str) -> _Block:
        if not self.blocks or self.blocks[-1].tag != tag:
            raise Unconvertible(f"{{% {name} %}} out of place")
        return self.blocks[-1]

    def loop_variable(self) -> str:
        self.loop_names += 1
        return "entry" if self.loop_names == 1 else f"entry{self.loop_names}"

    def for_tag(self, bits: list[str]) -> None:
        if "in" not in bits:
            raise Unconvertible("a for loop without 'in'")
        at = bits.index("in")
        names = [n.strip() for n in " ".join(bits[1:at]).split(",")]
        rest = bits[at + 1 :]
        reversed_ = rest[-1:] == ["reversed"]
        if reversed_:
            rest = rest[:-1]
        if len(rest) != 1 or not all(IDENTIFIER.match(n) and n not in LIQUID_KEYWORDS for n in names):
            raise Unconvertible(f"the loop {' '.join(bits)!r}")
        if any(n in {"product", "language", "forloop"} for n in names):
            raise Unconvertible(f"a loop variable named {names}")
        iterable = rest[0]
        if iterable.endswith((".items", ".keys", ".values")):
            iterable, method = iterable.rsplit(".", 1)
            path, defined = self.path(iterable)
            variable = self.loop_variable()
            if method == "items":
                if len(names) != 2:
                    raise Unconvertible(f"the loop {' '.join(bits)!r}")
                scope = {names[0]: f"{variable}[0]", names[1]: f"{variable}[1]"}
            else:
                if len(names) != 1:
                    raise Unconvertible(f"the loop {' '.join(bits)!r}")
                scope = {names[0]: f"{variable}[{0 if method == 'keys' else 1}]"}
        else:
            path, defined = self.path(iterable)
            if len(names) == 1:
                variable, scope = names[0], {names[0]: names[0]}
            else:
                variable = self.loop_variable()
                scope = {n: f"{variable}[{i}]" for i, n in enumerate(names)}
        guard = "" if defined else path
        if guard:
            self.out.append(f"{{% if {guard} %}}")
        self.out.append(f"{{% for {variable} in {path}{' reversed' if reversed_ else ''} %}}")
        self.scopes.append(_Scope(scope))
        self.blocks.append(_Block("for", "{% endfor %}", wrapped=guard))

    def endfor(self, block: _Block) -> None:
        self.blocks.pop()
        self.scopes.pop()
        empty = self.out[block.empty_from :] if block.empty_from is not None else []
        self.out.append("{% endfor %}")
        if block.wrapped:
            if empty:
                self.out.append("{% else %}")
                self.out.extend(empty)
            self.out.append("{% endif %}")

    def with_tag(self, bits: list[str]) -> None:
        pairs: list[tuple[str, str]] = []
        args = bits[1:]
        if len(args) == 3 and args[1] == "as":
            pairs.append((args[2], args[0]))
        else:
            for arg in args:
                if "=" not in arg:
                    raise Unconvertible(f"the tag {{% {' '.join(bits)} %}}")
                name, value = arg.split("=", 1)
                pairs.append((name, value))
        scope = _Scope()
        for name, value in pairs:
            if not IDENTIFIER.match(name) or name in LIQUID_KEYWORDS or name in {"product", "language", "forloop"}:
                raise Unconvertible(f"the name {name!r} in {{% with %}}")
            if self.bound(name) is not None:
                raise Unconvertible(f"{{% with %}} hides the name {name!r}")
            self.out.append(f"{{% assign {name} = {self.expression(value, output=True)} %}}")
            scope.names[name] = name
        self.scopes.append(scope)
        self.blocks.append(_Block("with"))

    # Whole templates -----------------------------------------------------------------------
    def convert(self, source: str) -> str:
        for token in Lexer(source).tokenize():
            if token.token_type == TokenType.TEXT:
                if "{{" in token.contents or "{%" in token.contents:
                    raise Unconvertible("text with an unclosed {{ or {%")
                self.out.append(token.contents)
            elif token.token_type == TokenType.VAR:
                self.out.append(f"{{{{ {self.expression(token.contents, output=True)} }}}}")
            elif token.token_type == TokenType.COMMENT:
                if "%}" not in token.contents and token.contents.strip():
                    self.out.append(f"{{% # {token.contents.strip()} %}}")
            else:
                self.tag(token)
        if self.blocks:
            raise Unconvertible(f"{{% {self.blocks[-1].tag} %}} is never closed")
        return "".join(self.out)


def convert_django_template(source: str) -> str:
    """``source`` (Django template syntax) in Liquid; :class:`Unconvertible` names what does not map.

    ``{% comment %}`` blocks are dropped (they never rendered).
    """
    without_comments = re.sub(r"{%\s*comment\b.*?%}.*?{%\s*endcomment\s*%}", "", source, flags=re.DOTALL)
    return _Converter().convert(without_comments)

