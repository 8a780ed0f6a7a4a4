"""A small evaluator for the HCL expressions of infra/, as python-hcl2 hands them over.

python-hcl2 (8.x) gives every expression as text: a whole expression as
``"${...}"``, a string template as its text with ``${...}`` parts, literals as
Python values. This module parses that text (templates, references and
traversals, ``[...]`` / ``{...}``, ``for`` expressions with ``if``, ``c ? a : b``,
``! && || == != < <= > >= + - * / %``, function calls with ``...`` expansion,
``[*]`` splats) and evaluates it against a :class:`Scope` that the caller
provides: what ``var.x``, ``local.x``, ``module.m.o``, ``data.T.N.a`` and
``T.N[...].a`` mean is the caller's business (tests/infra/policies.py resolves
them through the whole module tree; tests/infra/test_wiring.py through one module
with stand-in data sources).

Only the functions infra/ uses that matter for values are implemented; anything
else raises :class:`HclError`, which names the expression. Evaluation is lazy:
an expression is evaluated only when a value needs it, so unsupported parts of
infra/ that never reach a policy (``filebase64sha256(...)``) cost nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pathlib
import re


class HclError(ValueError):
    """An expression this evaluator cannot parse or evaluate."""


# ---------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------

_PUNCT = ["...", "=>", "==", "!=", "<=", ">=", "&&", "||", "[", "]", "(", ")", "{", "}", ",", ":", "?", ".",
          "!", "<", ">", "+", "-", "*", "/", "%", "="]


def _string_end(text: str, i: int) -> int:
    """Index just past the closing quote of the string opening at text[i] == '"'."""
    j = i + 1
    depth = 0
    while j < len(text):
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if depth == 0 and c == '"':
            return j + 1
        if text.startswith("${", j):
            depth += 1
            j += 2
            continue
        if depth and c == '"':
            j = _string_end(text, j)
            continue
        if depth and c == "{":
            depth += 1
        elif depth and c == "}":
            depth -= 1
        j += 1
    raise HclError(f"unterminated string in {text!r}")


def _tokens(text: str) -> list[tuple[str, object]]:
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c == '"':
            j = _string_end(text, i)
            out.append(("str", text[i + 1 : j - 1]))
            i = j
            continue
        if c.isdigit():
            m = re.match(r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?", text[i:])
            literal = m.group(0)
            out.append(("num", float(literal) if any(x in literal for x in ".eE") else int(literal)))
            i += len(literal)
            continue
        if c.isalpha() or c == "_":
            m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[i:])
            out.append(("id", m.group(0)))
            i += len(m.group(0))
            continue
        for p in _PUNCT:
            if text.startswith(p, i):
                out.append(("op", p))
                i += len(p)
                break
        else:
            raise HclError(f"unexpected character {c!r} in {text!r}")
    out.append(("end", None))
    return out


# ---------------------------------------------------------------------------
# Parser: text -> nodes (tuples)
# ---------------------------------------------------------------------------

_BINARY = [("||",), ("&&",), ("==", "!="), ("<", "<=", ">", ">="), ("+", "-"), ("*", "/", "%")]


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, k: int = 0):
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self):
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def at(self, value, kind="op") -> bool:
        tok = self.peek()
        return tok[0] == kind and tok[1] == value

    def expect(self, value, kind="op"):
        tok = self.next()
        if tok[0] != kind or tok[1] != value:
            raise HclError(f"expected {value!r}, found {tok[1]!r} in {self.text!r}")
        return tok

    def parse(self):
        node = self.expr()
        if self.peek()[0] != "end":
            raise HclError(f"unexpected {self.peek()[1]!r} in {self.text!r}")
        return node

    def expr(self):
        cond = self.binary(0)
        if self.at("?"):
            self.next()
            yes = self.expr()
            self.expect(":")
            no = self.expr()
            return ("cond", cond, yes, no)
        return cond

    def binary(self, level: int):
        if level == len(_BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek()[0] == "op" and self.peek()[1] in _BINARY[level]:
            op = self.next()[1]
            right = self.binary(level + 1)
            left = ("bin", op, left, right)
        return left

    def unary(self):
        if self.at("!"):
            self.next()
            return ("not", self.unary())
        if self.at("-"):
            self.next()
            return ("neg", self.unary())
        return self.postfix(self.primary())

    def postfix(self, node):
        while True:
            if self.at("."):
                self.next()
                tok = self.next()
                if tok[0] == "num":  # legacy index form a.0
                    node = ("index", node, ("lit", tok[1]))
                elif tok[0] == "id":
                    node = ("attr", node, tok[1])
                elif tok == ("op", "*"):
                    node = ("splat", node, self.splat_tail())
                else:
                    raise HclError(f"bad traversal in {self.text!r}")
            elif self.at("["):
                if self.peek(1) == ("op", "*") and self.peek(2) == ("op", "]"):
                    self.i += 3
                    node = ("splat", node, self.splat_tail())
                else:
                    self.next()
                    key = self.expr()
                    self.expect("]")
                    node = ("index", node, key)
            else:
                return node

    def splat_tail(self) -> list:
        """The attribute/index traversal after [*], applied to each element."""
        tail = []
        while True:
            if self.at(".") and self.peek(1)[0] == "id":
                self.next()
                tail.append(("attr", self.next()[1]))
            elif self.at("[") and self.peek(1) != ("op", "*"):
                self.next()
                key = self.expr()
                self.expect("]")
                tail.append(("index", key))
            else:
                return tail

    def primary(self):
        kind, value = self.next()
        if kind == "num":
            return ("lit", value)
        if kind == "str":
            return parse_template(value)
        if kind == "id":
            if value in ("true", "false"):
                return ("lit", value == "true")
            if value == "null":
                return ("lit", None)
            if self.at("("):
                self.next()
                args, expand = [], False
                while not self.at(")"):
                    args.append(self.expr())
                    if self.at("..."):
                        self.next()
                        expand = True
                    if self.at(","):
                        self.next()
                self.expect(")")
                return ("call", value, args, expand)
            return ("name", value)
        if (kind, value) == ("op", "("):
            node = self.expr()
            self.expect(")")
            return node
        if (kind, value) == ("op", "["):
            if self.at("for", "id"):
                return self.for_expr("]")
            items = []
            while not self.at("]"):
                items.append(self.expr())
                if self.at(","):
                    self.next()
            self.expect("]")
            return ("list", items)
        if (kind, value) == ("op", "{"):
            if self.at("for", "id"):
                return self.for_expr("}")
            items = []
            while not self.at("}"):
                if self.peek()[0] == "id" and self.peek(1) in (("op", "="), ("op", ":")):
                    key = ("lit", self.next()[1])
                else:
                    key = self.expr()
                self.next()  # = or :
                items.append((key, self.expr()))
                if self.at(","):
                    self.next()
            self.expect("}")
            return ("object", items)
        raise HclError(f"unexpected {value!r} in {self.text!r}")

    def for_expr(self, close: str):
        self.expect("for", "id")
        names = [self.next()[1]]
        if self.at(","):
            self.next()
            names.append(self.next()[1])
        self.expect("in", "id")
        collection = self.expr()
        self.expect(":")
        key = None
        value = self.expr()
        if close == "}":
            self.expect("=>")
            key, value = value, self.expr()
            if self.at("..."):
                self.next()
        cond = None
        if self.at("if", "id"):
            self.next()
            cond = self.expr()
        self.expect(close)
        return ("for", names, collection, key, value, cond)


def _template_parts(text: str) -> list:
    """A template's text -> literal strings and ${...} expression texts (as nodes)."""
    parts = []
    i = 0
    literal = []
    while i < len(text):
        if text.startswith("$${", i):
            literal.append("${")
            i += 3
            continue
        if text.startswith("${", i):
            depth, j = 1, i + 2
            while j < len(text) and depth:
                if text[j] == '"':
                    j = _string_end(text, j)
                    continue
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                j += 1
            if depth:
                raise HclError(f"unterminated interpolation in {text!r}")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(_Parser(text[i + 2 : j - 1]).parse())
            i = j
            continue
        if text[i] == "\\" and i + 1 < len(text):
            literal.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(text[i + 1], "\\" + text[i + 1]))
            i += 2
            continue
        literal.append(text[i])
        i += 1
    if literal:
        parts.append("".join(literal))
    return parts


def parse_template(text: str):
    parts = _template_parts(text)
    if len(parts) == 1 and not isinstance(parts[0], str):
        return parts[0]  # "${expr}" is expr's value, not its string form
    return ("template", parts)


_CACHE: dict[str, object] = {}


def parse(text: str):
    """python-hcl2's text of one value -> a node."""
    if text not in _CACHE:
        _CACHE[text] = parse_template(text)
    return _CACHE[text]


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------


class Namespace:
    """A value whose attributes (and indexes) are computed on demand: var, local,
    module.<name>, a resource type, a resource with count/for_each, ..."""

    def __init__(self, what: str, attr=None, index=None, items=None):
        self.what = what
        self._attr = attr
        self._index = index
        self._items = items

    def attr(self, name: str):
        if self._attr is None:
            raise HclError(f"{self.what} has no attribute {name!r}")
        return self._attr(name)

    def index(self, key):
        if self._index is None:
            raise HclError(f"{self.what} cannot be indexed with {key!r}")
        return self._index(key)

    def items(self) -> list:
        if self._items is None:
            raise HclError(f"{self.what} is not a collection")
        return self._items()

    def __repr__(self) -> str:
        return f"<{self.what}>"


class Scope:
    """Names an expression may use. `names` maps a root name (var, local, module,
    data, each, count, path, aws_* resource types, for-expression variables) to
    its value, usually a Namespace."""

    def __init__(self, names: dict, parent: "Scope | None" = None):
        self.names = names
        self.parent = parent

    def lookup(self, name: str):
        scope = self
        while scope is not None:
            if name in scope.names:
                value = scope.names[name]
                return value() if callable(value) and not isinstance(value, Namespace) else value
            scope = scope.parent
        raise HclError(f"unknown name {name!r}")

    def child(self, names: dict) -> "Scope":
        return Scope(names, self)


def evaluate(value, scope: Scope):
    """The value of a python-hcl2 value (text, list, dict, literal) in `scope`."""
    if isinstance(value, str):
        return eval_node(parse(value), scope)
    if isinstance(value, list):
        return [evaluate(v, scope) for v in value]
    if isinstance(value, dict):
        return {k: evaluate(v, scope) for k, v in value.items()}
    return value


def _attr(base, name: str):
    if isinstance(base, Namespace):
        return base.attr(name)
    if isinstance(base, dict):
        if name not in base:
            raise HclError(f"object has no attribute {name!r} (keys {sorted(base)})")
        return base[name]
    raise HclError(f"cannot take .{name} of {base!r}")


def _index(base, key):
    if isinstance(base, Namespace):
        return base.index(key)
    if isinstance(base, list):
        if not isinstance(key, (int, float)) or int(key) != key:
            raise HclError(f"list index {key!r} is not a whole number")
        return base[int(key)]
    if isinstance(base, dict):
        return base[str(key)]
    raise HclError(f"cannot index {base!r} with {key!r}")


def _elements(value) -> list:
    if isinstance(value, Namespace):
        return value.items()
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return [value]  # a splat on a single value


def _tostring(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None:
        raise HclError("null in a string template")
    if isinstance(value, (list, dict, Namespace)):
        raise HclError(f"cannot interpolate {value!r} into a string")
    return str(value)


def _num(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            return int(value) if re.fullmatch(r"-?[0-9]+", str(value)) else float(value)
        except (TypeError, ValueError) as e:
            raise HclError(f"{value!r} is not a number") from e
    return value


def _equal(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
        return a == b
    return type(a) is type(b) and a == b or (a is None and b is None)


def _flatten(value) -> list:
    out = []
    for item in value:
        out.extend(_flatten(item) if isinstance(item, list) else [item])
    return out


def _distinct(value) -> list:
    out = []
    for item in value:
        if item not in out:
            out.append(item)
    return out


def _coalesce(*args):
    for a in args:
        if a is not None and a != "":
            return a
    raise HclError("coalesce: no non-empty argument")


def _jsonencode(value) -> str:
    return json.dumps(value, separators=(",", ":"))


# Relative paths of the file functions are relative to Terraform's working
# directory: infra/, since the project runs it as `terraform -chdir=infra`.
CWD = pathlib.Path(__file__).resolve().parents[2] / "infra"


def _path(p: str) -> pathlib.Path:
    return pathlib.Path(os.path.normpath(CWD / p))


def _file(p: str) -> str:
    try:
        return _path(p).read_text(encoding="utf-8")
    except OSError as e:
        raise HclError(f"file({p!r}): {e}") from e


def _fileset(base: str, pattern: str) -> list:
    """fileset(path, pattern): the files (not directories) under path matching
    pattern, relative to path with "/" separators; `**` spans folders, `*` and
    `?` do not (only the patterns infra/ uses need to be right)."""
    root = _path(base)
    regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
    if not root.is_dir():
        return []
    out = [f.relative_to(root).as_posix() for f in root.rglob("*") if f.is_file()]
    return sorted(f for f in out if re.fullmatch(regex, f))


def _regexall(pattern: str, text: str) -> list:
    """regexall(): Go RE2 syntax is Python's for what infra/ uses; with capture
    groups each match is the list of its groups (unnamed) as Terraform gives it."""
    compiled = re.compile(pattern)
    if compiled.groupindex:
        raise HclError("regexall with named groups is not supported here")
    if compiled.groups == 0:
        return [m.group(0) for m in compiled.finditer(text)]
    return [[g if g is not None else "" for g in m.groups()] for m in compiled.finditer(text)]


def _regex(pattern: str, text: str):
    """regex(): the first match (its groups when it has some); no match is an error."""
    found = _regexall(pattern, text)
    if not found:
        raise HclError(f"regex({pattern!r}): no match in {text!r}")
    return found[0]


def _sort(values) -> list:
    if any(not isinstance(v, str) for v in values):
        raise HclError(f"sort() takes strings: {values!r}")
    return sorted(values)


def _digest(algorithm: str):
    return lambda text: hashlib.new(algorithm, text.encode("utf-8")).hexdigest()


def _file_digest(algorithm: str):
    def digest(p: str) -> str:
        try:
            return hashlib.new(algorithm, _path(p).read_bytes()).hexdigest()
        except OSError as e:
            raise HclError(f"file{algorithm}({p!r}): {e}") from e
    return digest


FUNCTIONS = {
    "abspath": lambda p: os.path.normpath(str(CWD / p)),
    "file": _file,
    "fileexists": lambda p: _path(p).is_file(),
    "fileset": _fileset,
    "filemd5": _file_digest("md5"),
    "filesha256": _file_digest("sha256"),
    "md5": _digest("md5"),
    "sha256": _digest("sha256"),
    "substr": lambda s, offset, length: s[int(offset):] if int(length) == -1 else s[int(offset):int(offset) + int(length)],
    "sort": _sort,
    "regexall": _regexall,
    "regex": _regex,
    "strcontains": lambda s, sub: sub in s,
    "alltrue": lambda values: all(v is True for v in values),
    "anytrue": lambda values: any(v is True for v in values),
    "keys": lambda d: sorted(d) if isinstance(d, dict) else _elements(d),
    "values": lambda d: [d[k] for k in sorted(d)] if isinstance(d, dict) else _elements(d),
    "flatten": _flatten,
    "concat": lambda *lists: [x for lst in lists for x in lst],
    "distinct": _distinct,
    "compact": lambda lst: [x for x in lst if x is not None and x != ""],
    "split": lambda sep, s: s.split(sep),
    "join": lambda sep, lst: sep.join(_tostring(x) for x in lst),
    "trimprefix": lambda s, p: s[len(p):] if s.startswith(p) else s,
    "trimsuffix": lambda s, p: s[: -len(p)] if p and s.endswith(p) else s,
    "startswith": lambda s, p: s.startswith(p),
    "endswith": lambda s, p: s.endswith(p),
    "coalesce": _coalesce,
    "length": lambda v: len(_elements(v)) if not isinstance(v, str) else len(v),
    "tostring": _tostring,
    "tonumber": _num,
    "tolist": list,
    "toset": _distinct,
    "max": lambda *xs: max(_num(x) for x in xs),
    "min": lambda *xs: min(_num(x) for x in xs),
    "range": lambda *a: list(range(*[int(_num(x)) for x in a])),
    "pow": lambda a, b: _num(a) ** _num(b),
    "floor": lambda a: math.floor(_num(a)),
    "ceil": lambda a: math.ceil(_num(a)),
    "jsonencode": _jsonencode,
    "merge": lambda *ds: {k: v for d in ds for k, v in (d or {}).items()},
    "lookup": lambda d, k, *default: d.get(k, *default) if default else d[k],
    "contains": lambda lst, v: v in lst,
    "lower": str.lower,
    "upper": str.upper,
    "replace": lambda s, a, b: s.replace(a, b),
    "format": lambda fmt, *a: re.sub(r"%[sd]", "{}", fmt).format(*[_tostring(x) for x in a]),
}


def eval_node(node, scope: Scope):
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "template":
        return "".join(p if isinstance(p, str) else _tostring(eval_node(p, scope)) for p in node[1])
    if kind == "name":
        return scope.lookup(node[1])
    if kind == "attr":
        return _attr(eval_node(node[1], scope), node[2])
    if kind == "index":
        return _index(eval_node(node[1], scope), eval_node(node[2], scope))
    if kind == "splat":
        out = []
        for item in _elements(eval_node(node[1], scope)):
            for step in node[2]:
                item = _attr(item, step[1]) if step[0] == "attr" else _index(item, eval_node(step[1], scope))
            out.append(item)
        return out
    if kind == "list":
        return [eval_node(n, scope) for n in node[1]]
    if kind == "object":
        return {_tostring(eval_node(k, scope)): eval_node(v, scope) for k, v in node[1]}
    if kind == "cond":
        cond = eval_node(node[1], scope)
        if not isinstance(cond, bool):
            raise HclError(f"condition is {cond!r}, not a bool")
        return eval_node(node[2] if cond else node[3], scope)
    if kind == "not":
        return not eval_node(node[1], scope)
    if kind == "neg":
        return -_num(eval_node(node[1], scope))
    if kind == "bin":
        op = node[1]
        if op == "&&":
            return bool(eval_node(node[2], scope)) and bool(eval_node(node[3], scope))
        if op == "||":
            return bool(eval_node(node[2], scope)) or bool(eval_node(node[3], scope))
        a, b = eval_node(node[2], scope), eval_node(node[3], scope)
        if op == "==":
            return _equal(a, b)
        if op == "!=":
            return not _equal(a, b)
        a, b = _num(a), _num(b)
        return {
            "<": lambda: a < b, "<=": lambda: a <= b, ">": lambda: a > b, ">=": lambda: a >= b,
            "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b, "%": lambda: a % b,
        }[op]()
    if kind == "call":
        name, args, expand = node[1], node[2], node[3]
        if name == "can" and len(args) == 1 and not expand:  # lazy: the argument's error is the answer
            try:
                eval_node(args[0], scope)
                return True
            except HclError:
                return False
        if name == "try" and args and not expand:
            for arg in args:
                try:
                    return eval_node(arg, scope)
                except HclError:
                    continue
            raise HclError("try: no argument could be evaluated")
        if name not in FUNCTIONS:
            raise HclError(f"function {name}() is not supported here")
        values = [eval_node(a, scope) for a in args]
        if expand:
            values = values[:-1] + list(_elements(values[-1]))
        return FUNCTIONS[name](*values)
    if kind == "for":
        names, coll, key, value, cond = node[1], eval_node(node[2], scope), node[3], node[4], node[5]
        if isinstance(coll, Namespace):
            coll = coll.items()
        pairs = list(coll.items()) if isinstance(coll, dict) else list(enumerate(coll))
        out_list, out_map = [], {}
        for k, v in pairs:
            bound = {names[0]: v} if len(names) == 1 else {names[0]: k, names[1]: v}
            inner = scope.child(bound)
            if cond is not None and not eval_node(cond, inner):
                continue
            if key is None:
                out_list.append(eval_node(value, inner))
            else:
                out_map[_tostring(eval_node(key, inner))] = eval_node(value, inner)
        return out_list if key is None else out_map
    raise HclError(f"unknown node {kind}")
