"""Safe arithmetic: parse with :mod:`ast`, never ``eval``. Pure.

The one arithmetic engine of voicebot: the client's ``calculate`` tool evaluates the
model's expression with it, and the local server's assistant evaluates what it heard
("twelve divided by five", turned into ``12 / 5`` by :mod:`voicebot.server.numbers`)
with ``exact=True``, so rational arithmetic stays exact (``Fraction``).

Written by hand because no small, well-kept library evaluates only arithmetic with
bounded cost: ``eval`` runs arbitrary code, and the AST walk below is short. The
model's expression may use numbers, ``+ - * / // % **`` (``^`` also means power,
as people write it), parentheses, the constants ``pi``, ``e``, ``tau`` and the
functions in :data:`FUNCTIONS`. Sizes are capped so "9**9**9" fails fast instead of
eating the CPU.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from fractions import Fraction
from typing import Union

__all__ = ["evaluate", "format_number", "FUNCTIONS", "CONSTANTS", "MAX_EXPRESSION_CHARS",
           "MAX_INT_BITS", "Number"]

Number = Union[int, float, Fraction]

MAX_EXPRESSION_CHARS = 300
#: Results whose integers (numerators, denominators) need more bits are refused:
#: about 1233 decimal digits, plenty to read, cheap to compute.
MAX_INT_BITS = 4096
_MAX_FACTORIAL = 170  # the largest factorial a float can hold

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}


def _factorial(n: Number) -> int:
    if not float(n).is_integer() or not 0 <= n <= _MAX_FACTORIAL:
        raise ValueError(f"factorial needs a whole number from 0 to {_MAX_FACTORIAL}")
    return math.factorial(int(n))


def _sqrt(x: Number) -> float:
    if x < 0:
        raise ValueError("negative numbers have no real square root")
    return math.sqrt(x)


FUNCTIONS: dict[str, Callable[..., Number]] = {
    "sqrt": _sqrt, "cbrt": lambda x: math.copysign(abs(x) ** (1 / 3), x),
    "exp": math.exp, "log": math.log, "ln": math.log, "log10": math.log10, "log2": math.log2,
    "sin": math.sin, "cos": math.cos, "tan": math.tan,
    "asin": math.asin, "acos": math.acos, "atan": math.atan, "atan2": math.atan2,
    "degrees": math.degrees, "radians": math.radians, "hypot": math.hypot,
    "abs": abs, "round": round, "floor": math.floor, "ceil": math.ceil,
    "min": min, "max": max, "factorial": _factorial,
}


def _power(base: Number, exponent: Number, max_bits: int) -> Number:
    whole = isinstance(exponent, int) or (isinstance(exponent, Fraction)
                                          and exponent.denominator == 1)
    if whole and isinstance(base, (int, Fraction)):
        e = int(exponent)
        # An exact result (an int base to a positive power, a Fraction to any whole
        # power) has about |e| * log2(size) bits: refuse before computing it.
        if e > 0 or isinstance(base, Fraction):
            b = Fraction(base)
            size = max(abs(b.numerator), b.denominator)
            if size > 1 and abs(e) * math.log2(size) > max_bits:
                raise ValueError("result too large")
    result: Number | complex = operator.pow(base, exponent)
    if isinstance(result, complex):
        raise ValueError("the result is not a real number")
    return result


_BINARY: dict[type, Callable[[Number, Number], Number]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_POWER = (ast.Pow, ast.BitXor)  # ^ also means power, as people write it
_UNARY: dict[type, Callable[[Number], Number]] = {ast.UAdd: lambda x: +x, ast.USub: lambda x: -x}


def evaluate(expression: str, *, exact: bool = False, max_int_bits: int = MAX_INT_BITS
             ) -> Number:
    """The value of an arithmetic ``expression``.

    With ``exact`` every literal is a ``Fraction`` and ``+ - * / // % **`` with whole
    powers stay exact; functions and constants give floats. ``max_int_bits`` bounds
    the integers of any intermediate result.
    Raises ``ValueError`` with a one-line reason for anything that is not allowed
    arithmetic, divides by zero, overflows or leaves the real numbers.
    """
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ValueError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    text = expression.replace("×", "*").replace("÷", "/").replace("−", "-").strip()
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ValueError(f"not an arithmetic expression: {expression!r}") from None
    try:
        value = _Evaluator(exact, max_int_bits).eval(tree.body)
    except ZeroDivisionError:
        raise ValueError("division by zero") from None
    except OverflowError:
        raise ValueError("result too large") from None
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("the result is not a finite number")
    return value


class _Evaluator:
    def __init__(self, exact: bool, max_bits: int) -> None:
        self.exact = exact
        self.max_bits = max_bits

    def eval(self, node: ast.AST) -> Number:
        if (isinstance(node, ast.Constant) and isinstance(node.value, (int, float))
                and not isinstance(node.value, bool)):
            # repr() gives the literal's shortest decimal: 0.1 is exactly 1/10.
            return Fraction(repr(node.value)) if self.exact else node.value
        if isinstance(node, ast.BinOp) and isinstance(node.op, _POWER):
            return self._checked(_power(self.eval(node.left), self.eval(node.right),
                                        self.max_bits))
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return self._checked(_BINARY[type(node.op)](self.eval(node.left),
                                                        self.eval(node.right)))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](self.eval(node.operand))
        if isinstance(node, ast.Name) and node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in FUNCTIONS and not node.keywords):
            return self._checked(FUNCTIONS[node.func.id](*(self.eval(a) for a in node.args)))
        raise ValueError(f"not allowed in arithmetic: {ast.unparse(node)!r}")

    def _checked(self, value: Number) -> Number:
        if isinstance(value, int) and value.bit_length() > self.max_bits:
            raise ValueError("result too large")
        if isinstance(value, Fraction) and max(value.numerator.bit_length(),
                                               value.denominator.bit_length()) > self.max_bits:
            raise ValueError("result too large")
        return value


def format_number(value: Number) -> str:
    """``value`` as a short string: integers exactly, floats to 12 significant digits."""
    if isinstance(value, Fraction):
        value = value.numerator if value.denominator == 1 else float(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return format(value, ".12g")
    return str(value)
