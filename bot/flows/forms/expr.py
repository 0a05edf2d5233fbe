"""A small, safe evaluator for XLSForm-style `relevant` and `constraint` expressions.

    ${project} = 1 and ${value} > 0
    . >= 0 and . <= 1000
    not(${has_photo} = 'yes') or selected(${kinds}, 'water')

Grammar (no Python `eval`, no attribute access, no calls but the few below):

    or_expr   := and_expr ("or" and_expr)*
    and_expr  := not_expr ("and" not_expr)*
    not_expr  := "not" not_expr | compare
    compare   := sum (("=" | "!=" | "<" | "<=" | ">" | ">=") sum)?
    sum       := product (("+" | "-") product)*
    product   := unary (("*" | "div" | "mod") unary)*
    unary     := "-" unary | atom
    atom      := number | 'text' | "text" | ${field} | "." | true() | false()
               | selected(expr, expr) | count-selected(expr) | string-length(expr)
               | regex(expr, 'pattern') | "(" or_expr ")"

A field not answered (or skipped) is empty: it equals '' and nothing else, and any comparison
of order or arithmetic with it is false / empty. `compile_expr` raises `ExprError` for text it
cannot read; evaluating raises `ExprError` only for a division by zero or a bad regex pattern.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.flows.forms.errors import ExprError

MAX_LENGTH = 500
MAX_DEPTH = 40
MAX_NUMBER = 10**15

TOKEN_RE = re.compile(
    r"""\s*(?:
      (?P<num>\d+(?:\.\d+)?)
    | (?P<str>'[^']*'|"[^"]*")
    | (?P<ref>\$\{[A-Za-z_][A-Za-z0-9_]*\})
    | (?P<op><=|>=|!=|=|<|>|\+|-|\*|\(|\)|,)
    | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    | (?P<dot>\.)
    )""",
    re.VERBOSE,
)

Value = Any
Node = Callable[[Mapping[str, Any], Any], Value]
FUNCTIONS = {
    "selected": 2,
    "count-selected": 1,
    "string-length": 1,
    "regex": 2,
    "true": 0,
    "false": 0,
    "not": 1,
}


@dataclass(frozen=True)
class Expr:
    """A compiled expression and the fields it reads."""

    text: str
    refs: frozenset[str]
    _node: Node

    def evaluate(self, answers: Mapping[str, Any], current: Any = None) -> Value:
        return self._node(answers, current)

    def test(self, answers: Mapping[str, Any], current: Any = None) -> bool:
        return truthy(self.evaluate(answers, current))


def tokenize(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = TOKEN_RE.match(text, pos)
        if m is None or m.end() == pos:
            raise ExprError(f"cannot read {text[pos : pos + 10]!r} at character {pos + 1}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def truthy(v: Value) -> bool:
    if v is None or v == "" or v is False:
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v != 0
    if isinstance(v, (list, tuple)):
        return bool(v)
    return True


def _number(v: Value) -> float | int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, str):
        try:
            return int(v) if re.fullmatch(r"-?\d+", v.strip()) else float(v)
        except ValueError:
            return None
    return None


def _empty(v: Value) -> bool:
    return v is None or v == "" or v == []


def _equal(a: Value, b: Value) -> bool:
    if _empty(a) or _empty(b):
        return _empty(a) and _empty(b)
    if isinstance(a, bool) or isinstance(b, bool):
        a = ("yes" if a else "no") if isinstance(a, bool) else a
        b = ("yes" if b else "no") if isinstance(b, bool) else b
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None and not (isinstance(a, str) and isinstance(b, str)):
        return na == nb
    return str(a) == str(b)


def _order(op: str, a: Value, b: Value) -> bool:
    na, nb = _number(a), _number(b)
    if na is None or nb is None:
        if isinstance(a, str) and isinstance(b, str) and a and b:
            na, nb = a, b  # type: ignore[assignment]  # periods, ISO dates compare as text
        else:
            return False
    if op == "<":
        return na < nb  # type: ignore[operator]
    if op == "<=":
        return na <= nb  # type: ignore[operator]
    if op == ">":
        return na > nb  # type: ignore[operator]
    return na >= nb  # type: ignore[operator]


def _arith(op: str, a: Value, b: Value) -> Value:
    na, nb = _number(a), _number(b)
    if na is None or nb is None:
        return None
    if op == "+":
        r = na + nb
    elif op == "-":
        r = na - nb
    elif op == "*":
        r = na * nb
    else:
        if nb == 0:
            raise ExprError("division by zero")
        r = na / nb if op == "div" else na % nb
    if isinstance(r, float) and (r != r or abs(r) == float("inf")):
        return None
    if abs(r) > MAX_NUMBER:
        return None
    return r


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.refs: set[str] = set()
        self.depth = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise ExprError("the expression ends too early")
        if value is not None and tok[1] != value:
            raise ExprError(f"expected {value!r}, found {tok[1]!r}")
        self.i += 1
        return tok

    def is_word(self, word: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "name" and tok[1] == word

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError("the expression is nested too deeply")

    def parse(self) -> Node:
        if not self.tokens:
            raise ExprError("the expression is empty")
        node = self.or_expr()
        if self.peek() is not None:
            raise ExprError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return node

    def or_expr(self) -> Node:
        self.enter()
        parts = [self.and_expr()]
        while self.is_word("or"):
            self.take()
            parts.append(self.and_expr())
        self.depth -= 1
        if len(parts) == 1:
            return parts[0]
        return lambda a, c: any(truthy(p(a, c)) for p in parts)

    def and_expr(self) -> Node:
        parts = [self.not_expr()]
        while self.is_word("and"):
            self.take()
            parts.append(self.not_expr())
        if len(parts) == 1:
            return parts[0]
        return lambda a, c: all(truthy(p(a, c)) for p in parts)

    def not_expr(self) -> Node:
        if self.is_word("not") and not self._call_follows():
            self.take()
            self.enter()
            inner = self.not_expr()
            self.depth -= 1
            return lambda a, c: not truthy(inner(a, c))
        return self.compare()

    def _call_follows(self) -> bool:
        nxt = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else None
        return nxt is not None and nxt[1] == "("

    def compare(self) -> Node:
        left = self.sum()
        tok = self.peek()
        if tok is not None and tok[0] == "op" and tok[1] in ("=", "!=", "<", "<=", ">", ">="):
            op = self.take()[1]
            right = self.sum()
            if op == "=":
                return lambda a, c: _equal(left(a, c), right(a, c))
            if op == "!=":
                return lambda a, c: not _equal(left(a, c), right(a, c))
            return lambda a, c: _order(op, left(a, c), right(a, c))
        return left

    def sum(self) -> Node:
        node = self.product()
        while (tok := self.peek()) is not None and tok[0] == "op" and tok[1] in "+-":
            op = self.take()[1]
            right = self.product()
            node = (lambda lhs, r, o: lambda a, c: _arith(o, lhs(a, c), r(a, c)))(node, right, op)
        return node

    def product(self) -> Node:
        node = self.unary()
        while (tok := self.peek()) is not None and (
            tok[1] == "*" or (tok[0] == "name" and tok[1] in ("div", "mod"))
        ):
            op = self.take()[1]
            right = self.unary()
            node = (lambda lhs, r, o: lambda a, c: _arith(o, lhs(a, c), r(a, c)))(node, right, op)
        return node

    def unary(self) -> Node:
        tok = self.peek()
        if tok is not None and tok == ("op", "-"):
            self.take()
            self.enter()
            inner = self.unary()
            self.depth -= 1
            return lambda a, c: _arith("-", 0, inner(a, c))
        return self.atom()

    def atom(self) -> Node:
        kind, value = self.take()
        if kind == "num":
            n: int | float = float(value) if "." in value else int(value)
            if abs(n) > MAX_NUMBER:
                raise ExprError("number too large")
            return lambda a, c: n
        if kind == "str":
            s = value[1:-1]
            return lambda a, c: s
        if kind == "ref":
            name = value[2:-1]
            self.refs.add(name)
            return lambda a, c: a.get(name)
        if kind == "dot":
            return lambda a, c: c
        if kind == "op" and value == "(":
            self.enter()
            inner = self.or_expr()
            self.depth -= 1
            self.take(")")
            return inner
        if kind == "name" and value in FUNCTIONS:
            return self.call(value)
        raise ExprError(f"unexpected {value!r}")

    def call(self, name: str) -> Node:
        self.take("(")
        args: list[Node] = []
        if self.peek() != ("op", ")"):
            self.enter()
            args.append(self.or_expr())
            while self.peek() == ("op", ","):
                self.take()
                args.append(self.or_expr())
            self.depth -= 1
        self.take(")")
        if len(args) != FUNCTIONS[name]:
            raise ExprError(f"{name}() takes {FUNCTIONS[name]} argument(s)")
        if name == "true":
            return lambda a, c: True
        if name == "false":
            return lambda a, c: False
        if name == "not":
            return lambda a, c: not truthy(args[0](a, c))
        if name == "selected":
            return lambda a, c: _selected(args[0](a, c), args[1](a, c))
        if name == "count-selected":
            return lambda a, c: _count(args[0](a, c))
        if name == "string-length":
            return lambda a, c: 0 if _empty(args[0](a, c)) else len(str(args[0](a, c)))
        return lambda a, c: _regex(args[0](a, c), args[1](a, c))


def _selected(value: Value, option: Value) -> bool:
    if _empty(value):
        return False
    if isinstance(value, (list, tuple)):
        return any(_equal(v, option) for v in value)
    if isinstance(value, str):
        return any(_equal(v, option) for v in value.split())
    return _equal(value, option)


def _count(value: Value) -> int:
    if _empty(value):
        return 0
    if isinstance(value, (list, tuple)):
        return len(value)
    return len(str(value).split())


def _regex(value: Value, pattern: Value) -> bool:
    if not isinstance(pattern, str) or len(pattern) > 200:
        raise ExprError("regex() needs a pattern text under 200 characters")
    try:
        compiled = re.compile(pattern)
    except re.error:
        raise ExprError(f"regex() pattern {pattern!r} is not valid") from None
    return compiled.fullmatch("" if _empty(value) else str(value)[:1000]) is not None


def compile_expr(text: object) -> Expr:
    if not isinstance(text, str):
        raise ExprError("an expression must be text")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"the expression is longer than {MAX_LENGTH} characters")
    parser = _Parser(text)
    node = parser.parse()
    return Expr(text, frozenset(parser.refs), node)
