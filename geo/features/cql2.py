"""A small, safe CQL2-text parser for the Basic CQL2 class (OGC API - Features Part 3).

Grammar (case-insensitive keywords)::

    expr    := term (OR term)*
    term    := factor (AND factor)*
    factor  := NOT factor | '(' expr ')' | predicate
    predicate := prop op literal | literal op prop | prop IS [NOT] NULL
    op      := = | <> | < | <= | > | >=
    literal := 'string' ('' escapes a quote) | number | TRUE | FALSE
             | DATE('YYYY-MM-DD') | TIMESTAMP('RFC 3339')

The compiled SQL never contains caller text: property names are looked up in the collection's
whitelist (their SQL comes from the registry) and every literal is a bind parameter. Any problem
is :class:`geo.errors.InvalidInput` naming the ``filter`` parameter.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from geo.errors import InvalidInput
from geo.features.collections import Property

#: Longest filter text accepted (a GIS client's filters are short; bounds parsing work).
MAX_FILTER_CHARS = 4000
#: Deepest nesting of parentheses / NOT accepted.
MAX_DEPTH = 32

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^']|'')*')
      | (?P<num>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<op><>|<=|>=|=|<|>)
      | (?P<paren>[(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*|"[^"]+")
    )""",
    re.VERBOSE,
)

_ORDERED = ("integer", "number", "string", "datetime", "date")


def _bad(msg: str) -> InvalidInput:
    return InvalidInput(f"filter: {msg}", field="filter")


def tokenize(text: str) -> list[tuple[str, str]]:
    """The (kind, text) tokens of ``text``; :class:`InvalidInput` at the first unreadable char."""
    if len(text) > MAX_FILTER_CHARS:
        raise _bad(f"longer than {MAX_FILTER_CHARS} characters")
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise _bad(f"cannot read {text[pos : pos + 20]!r} at position {pos}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(
        self, tokens: list[tuple[str, str]], lookup: Callable[[str], Property | None]
    ) -> None:
        self.toks = tokens
        self.i = 0
        self.lookup = lookup
        self.params: dict[str, Any] = {}
        self.depth = 0

    # -- token helpers
    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def keyword(self, *words: str) -> bool:
        t = self.peek()
        if t is not None and t[0] == "word" and t[1].upper() in words:
            self.i += 1
            return True
        return False

    def take(self, kind: str, value: str | None = None) -> str:
        t = self.peek()
        if t is None or t[0] != kind or (value is not None and t[1] != value):
            got = "the end" if t is None else repr(t[1])
            raise _bad(f"expected {value or kind} but found {got}")
        self.i += 1
        return t[1]

    def bind(self, value: Any) -> str:
        name = f"cql{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    # -- grammar
    def expr(self) -> str:
        parts = [self.term()]
        while self.keyword("OR"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"

    def term(self) -> str:
        parts = [self.factor()]
        while self.keyword("AND"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else "(" + " and ".join(parts) + ")"

    def factor(self) -> str:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _bad(f"nested deeper than {MAX_DEPTH}")
        try:
            if self.keyword("NOT"):
                return f"(not {self.factor()})"
            t = self.peek()
            if t == ("paren", "("):
                self.i += 1
                inner = self.expr()
                self.take("paren", ")")
                return f"({inner})"
            return self.predicate()
        finally:
            self.depth -= 1

    def operand(self) -> tuple[str, Any]:
        """('prop', Property) or ('lit', (type, value))."""
        t = self.peek()
        if t is None:
            raise _bad("unexpected end")
        kind, text = t
        if kind == "str":
            self.i += 1
            return "lit", ("string", text[1:-1].replace("''", "'"))
        if kind == "num":
            self.i += 1
            if re.fullmatch(r"[+-]?\d+", text):
                return "lit", ("integer", int(text))
            return "lit", ("number", float(text))
        if kind == "word":
            up = text.upper()
            if up in ("TRUE", "FALSE"):
                self.i += 1
                return "lit", ("boolean", up == "TRUE")
            if up in ("DATE", "TIMESTAMP") and self.toks[self.i + 1 : self.i + 2] == [
                ("paren", "(")
            ]:
                self.i += 2
                raw = self.take("str")[1:-1]
                self.take("paren", ")")
                return "lit", _temporal(up, raw)
            self.i += 1
            name = text.strip('"')
            prop = self.lookup(name)
            if prop is None:
                raise _bad(f"unknown property {name!r} (see the collection's queryables)")
            return "prop", prop
        raise _bad(f"unexpected {text!r}")

    def predicate(self) -> str:
        left = self.operand()
        if self.keyword("IS"):
            neg = self.keyword("NOT")
            if not self.keyword("NULL"):
                raise _bad("expected NULL after IS")
            if left[0] != "prop":
                raise _bad("IS NULL needs a property")
            return f"({left[1].sql} is {'not ' if neg else ''}null)"
        t = self.peek()
        if t is None or t[0] != "op":
            got = "the end" if t is None else repr(t[1])
            raise _bad(f"expected a comparison operator (=, <>, <, <=, >, >=) but found {got}")
        self.i += 1
        op = t[1]
        right = self.operand()
        if left[0] == "lit" and right[0] == "prop":
            left, right = right, left
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        if left[0] != "prop" or right[0] != "lit":
            raise _bad("a comparison needs one property and one literal")
        prop: Property = left[1]
        ltype, value = right[1]
        value = _coerce(prop, ltype, value)
        if op not in ("=", "<>") and prop.type not in _ORDERED:
            raise _bad(f"{op} does not apply to {prop.type} property {prop.name!r}")
        return f"({prop.sql} {op} {self.bind(value)})"


def _temporal(kind: str, raw: str) -> tuple[str, Any]:
    try:
        if kind == "DATE":
            return "date", dt.date.fromisoformat(raw)
        t = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise _bad(f"{kind}({raw!r}) is not a valid {kind.lower()}") from None
    if t.tzinfo is None:
        raise _bad(f"TIMESTAMP({raw!r}) needs a time zone (e.g. Z)")
    return "datetime", t


def _coerce(prop: Property, ltype: str, value: Any) -> Any:
    """``value`` as ``prop``'s type, or :class:`InvalidInput` when the types cannot compare."""
    ok = {
        "string": ("string",),
        "integer": ("integer",),
        "number": ("integer", "number"),
        "boolean": ("boolean",),
        "datetime": ("datetime", "date"),
        "date": ("date",),
    }[prop.type]
    if ltype not in ok:
        raise _bad(f"property {prop.name!r} is {prop.type}, cannot compare with a {ltype}")
    if prop.type == "integer" and not -(2**63) <= value < 2**63:
        raise _bad(f"{value} is out of range for {prop.name!r}")
    if prop.type == "number":
        return float(value)
    if prop.type == "datetime" and ltype == "date":
        return dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)
    return value


def compile_filter(
    text: str, lookup: Callable[[str], Property | None]
) -> tuple[str, dict[str, Any]]:
    """SQL boolean expression and its bind parameters for the CQL2-text ``text``.

    ``lookup`` maps a property name to the caller's visible :class:`Property` (``None`` when
    unknown or hidden): the whitelist. Raises :class:`InvalidInput` (field ``filter``).
    """
    if not text.strip():
        raise _bad("empty")
    p = _Parser(tokenize(text), lookup)
    sql = p.expr()
    if p.peek() is not None:
        raise _bad(f"unexpected {p.peek()[1]!r} after a complete expression")  # type: ignore[index]
    return sql, p.params
