"""Safe arithmetic for the ``calculate`` tool: parse with :mod:`ast`, never ``eval``. Pure.

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
from typing import Union

__all__ = ["evaluate", "format_number", "FUNCTIONS", "CONSTANTS", "MAX_EXPRESSION_CHARS"]

Number = Union[int, float]

MAX_EXPRESSION_CHARS = 300
_MAX_INT_BITS = 4096  # about 1233 decimal digits: plenty to speak, cheap to compute
_MAX_FACTORIAL = 170  # the largest factorial a float can hold

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}


def _factorial(n: Number) -> int:
    if not float(n).is_integer() or not 0 <= n <= _MAX_FACTORIAL:
        raise ValueError(f"factorial needs a whole number from 0 to {_MAX_FACTORIAL}")
    return math.factorial(int(n))


FUNCTIONS: dict[str, Callable[..., Number]] = {
    "sqrt": math.sqrt, "cbrt": lambda x: math.copysign(abs(x) ** (1 / 3), x),
    "exp": math.exp, "log": math.log, "ln": math.log, "log10": math.log10, "log2": math.log2,
    "sin": math.sin, "cos": math.cos, "tan": math.tan,
    "asin": math.asin, "acos": math.acos, "atan": math.atan, "atan2": math.atan2,
    "degrees": math.degrees, "radians": math.radians, "hypot": math.hypot,
    "abs": abs, "round": round, "floor": math.floor, "ceil": math.ceil,
    "min": min, "max": max, "factorial": _factorial,
}


def _power(base: Number, exponent: Number) -> Number:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        if exponent * math.log2(abs(base)) > _MAX_INT_BITS:
            raise ValueError("result too large")
    result: Number | complex = operator.pow(base, exponent)
    if isinstance(result, complex):
        raise ValueError("the result is not a real number")
    return result


_BINARY: dict[type, Callable[[Number, Number], Number]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: _power, ast.BitXor: _power,
}
_UNARY: dict[type, Callable[[Number], Number]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def evaluate(expression: str) -> Number:
    """The value of an arithmetic ``expression``.

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
        value = _eval(tree.body)
    except ZeroDivisionError:
        raise ValueError("division by zero") from None
    except OverflowError:
        raise ValueError("result too large") from None
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("the result is not a finite number")
    return value


def _eval(node: ast.AST) -> Number:
    if (isinstance(node, ast.Constant) and isinstance(node.value, (int, float))
            and not isinstance(node.value, bool)):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _checked(_BINARY[type(node.op)](_eval(node.left), _eval(node.right)))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.Name) and node.id in CONSTANTS:
        return CONSTANTS[node.id]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in FUNCTIONS and not node.keywords):
        return _checked(FUNCTIONS[node.func.id](*(_eval(arg) for arg in node.args)))
    raise ValueError(f"not allowed in arithmetic: {ast.unparse(node)!r}")


def _checked(value: Number) -> Number:
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        raise ValueError("result too large")
    return value


def format_number(value: Number) -> str:
    """``value`` as a short string: integers exactly, floats to 12 significant digits."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return format(value, ".12g")
    return str(value)
