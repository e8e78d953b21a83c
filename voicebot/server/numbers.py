"""Numbers and arithmetic in spoken or typed English, for the local assistant. Pure.

Recognised speech spells numbers out ("twelve times seven"), typed text uses digits
and symbols ("12*7"); :func:`tokenize` turns both into the same tokens: ``Fraction``
values, operator names and other words. Hand-written because the libraries that
parse number words (word2number, text2num) are unmaintained or pull in more than a
few dozen lines' worth; arithmetic is exact (``fractions``), never ``eval``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from ..skills.calc import evaluate

__all__ = ["tokenize", "Expression", "find_expression", "say_number", "parse_duration_s",
           "NUMBER_WORDS", "OPERATOR_WORDS"]


_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * (i + 2) for i, w in enumerate(
    "twenty thirty forty fifty sixty seventy eighty ninety".split())}
_SCALES = {"thousand": 1000, "million": 10**6, "billion": 10**9}
NUMBER_WORDS = (*_UNITS, *_TENS, "hundred", *_SCALES)

# Multi-word operators first, so "divided by" wins over a lone "by".
_OPERATOR_PHRASES = [
    ("to the power of", "pow"), ("raised to the power of", "pow"), ("raised to", "pow"),
    ("multiplied by", "mul"), ("divided by", "div"), ("square root of", "sqrt"),
    ("times", "mul"), ("x", "mul"), ("*", "mul"), ("×", "mul"), ("plus", "add"),
    ("+", "add"), ("minus", "sub"), ("-", "sub"), ("−", "sub"), ("over", "div"),
    ("/", "div"), ("÷", "div"), ("^", "pow"), ("**", "pow"), ("mod", "mod"),
    ("modulo", "mod"), ("squared", "sq"), ("cubed", "cube"),
]
OPERATOR_WORDS = tuple(p for p, _ in _OPERATOR_PHRASES if p[0].isalpha())
_SAY = {"add": "plus", "sub": "minus", "mul": "times", "div": "divided by",
        "pow": "to the power of", "mod": "modulo"}
_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "mod": "%"}
_BINARY = frozenset(_SYMBOL)
_WORD = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?|\*\*|[a-z]+(?:'[a-z]+)?|[*×+\-−/÷^]")


def tokenize(text: str) -> list[str | Fraction]:
    """Words, operator names (``"add"``, ``"mul"``, ``"sqrt"``...) and numbers of ``text``.

    ``"what is twenty five times 4"`` → ``["what", "is", Fraction(25), "mul", Fraction(4)]``.
    """
    words = _WORD.findall(text.lower().replace("what's", "what is"))
    out: list[str | Fraction] = []
    i = 0
    while i < len(words):
        op = _match_operator(words, i)
        if op is not None:
            name, width = op
            out.append(name)
            i += width
            continue
        value, width = _read_number(words, i)
        if width:
            out.append(value)
            i += width
            continue
        out.append(words[i])
        i += 1
    return out


def _match_operator(words: list[str], i: int) -> tuple[str, int] | None:
    for phrase, name in _OPERATOR_PHRASES:
        parts = phrase.split()
        if words[i:i + len(parts)] == parts:
            return name, len(parts)
    return None


def _read_number(words: list[str], i: int) -> tuple[Fraction, int]:
    """The number starting at ``words[i]`` and how many words it took (0: none)."""
    w = words[i]
    if w[0].isdigit():
        value = Fraction(w.replace(",", ""))
        j = i + 1
    else:
        total = current = 0
        j = i
        seen = False
        while j < len(words):
            w = words[j]
            if w in _UNITS or w in _TENS:
                current += _UNITS.get(w, _TENS.get(w, 0))
            elif w == "hundred" and seen:
                current *= 100
            elif w in _SCALES and seen:
                total += current * _SCALES[w]
                current = 0
            elif w == "and" and seen and j + 1 < len(words) and (
                    words[j + 1] in _UNITS or words[j + 1] in _TENS):
                pass  # "one hundred and five"
            else:
                break
            seen = True
            j += 1
        if not seen:
            return Fraction(0), 0
        value = Fraction(total + current)
    # "three point one four": decimals spoken digit by digit.
    if j + 1 < len(words) and words[j] == "point" and words[j + 1] in _UNITS \
            and _UNITS[words[j + 1]] < 10:
        digits = ""
        j += 1
        while j < len(words) and words[j] in _UNITS and _UNITS[words[j]] < 10:
            digits += str(_UNITS[words[j]])
            j += 1
        value += Fraction(int(digits), 10 ** len(digits))
    return value, j - i


@dataclass(frozen=True)
class Expression:
    """An arithmetic expression found in an utterance, with its exact value."""
    spoken: str            # "12 times 7"
    value: Fraction | None  # None: undefined (division by zero) or too large
    problem: str = ""      # why value is None


#: Spoken answers stay below about 10**60: longer numbers take minutes to say.
_MAX_ANSWER_BITS = 200
#: The engine's reasons, as the assistant says them.
_PROBLEMS = {"division by zero": "you can't divide by zero",
             "result too large": "the answer is too large for me"}


def find_expression(tokens: list[str | Fraction]) -> Expression | None:
    """The longest run ``number (op number)*`` with at least one operator, evaluated."""
    best: tuple[int, int] | None = None
    i = 0
    while i < len(tokens):
        end = _run_end(tokens, i)
        if end is not None and (best is None or end - i > best[1] - best[0]):
            best = (i, end)
        i += 1
    if best is None:
        return None
    run = tokens[best[0]:best[1]]
    spoken = " ".join(say_number(t) if isinstance(t, Fraction) else
                      ("the square root of" if t == "sqrt" else "squared" if t == "sq" else
                       "cubed" if t == "cube" else _SAY[t]) for t in run)
    try:
        value = evaluate(_expression_text(run), exact=True, max_int_bits=_MAX_ANSWER_BITS)
    except ValueError as exc:
        return Expression(spoken, None, _PROBLEMS.get(str(exc), str(exc)))
    return Expression(spoken, Fraction(value))


def _operand_end(tokens: list[str | Fraction], i: int) -> int | None:
    """End of ``sqrt* number (sq|cube)*`` at ``i``, or None."""
    while i < len(tokens) and tokens[i] == "sqrt":
        i += 1
    if i < len(tokens) and tokens[i] == "sub" and i + 1 < len(tokens) \
            and isinstance(tokens[i + 1], Fraction):
        i += 1  # unary minus: "minus three times two"
    if i >= len(tokens) or not isinstance(tokens[i], Fraction):
        return None
    i += 1
    while i < len(tokens) and tokens[i] in ("sq", "cube"):
        i += 1
    return i


def _run_end(tokens: list[str | Fraction], i: int) -> int | None:
    end = _operand_end(tokens, i)
    if end is None:
        return None
    has_op = any(t in ("sqrt", "sq", "cube") for t in tokens[i:end])
    while end < len(tokens) and tokens[end] in _BINARY:
        nxt = _operand_end(tokens, end + 1)
        if nxt is None:
            break
        end, has_op = nxt, True
    return end if has_op else None


def _expression_text(run: list[str | Fraction]) -> str:
    """A run accepted by :func:`_run_end` as arithmetic text: ``sqrt(81) + 2*7``.

    Each operand is parenthesised whole, so a sign binds before ``squared`` ("minus three
    squared" is 9) and the binary operators keep Python's precedence, which is the
    spoken one: powers (right to left), then ``* / %``, then ``+ -``.
    """
    out: list[str] = []
    i = 0
    while i < len(run):
        roots = 0
        while run[i] == "sqrt":
            roots, i = roots + 1, i + 1
        sign = ""
        if run[i] == "sub":
            sign, i = "-", i + 1
        number = run[i]
        if not isinstance(number, Fraction):  # _run_end only passes runs with a number here
            raise ValueError(f"expected a number, got {number!r}")
        text = f"({sign}{number.numerator}/{number.denominator})"
        i += 1
        while i < len(run) and run[i] in ("sq", "cube"):
            text = f"({text}**{2 if run[i] == 'sq' else 3})"
            i += 1
        for _ in range(roots):
            text = f"sqrt({text})"
        out.append(text)
        if i < len(run):
            op = run[i]
            assert isinstance(op, str)
            out.append(_SYMBOL[op])
            i += 1
    return " ".join(out)


def say_number(value: Fraction | int | float) -> str:
    """``84``, ``-3``, ``3.5``, ``about 0.3333`` — what the assistant says and writes."""
    v = Fraction(value)
    if v.denominator == 1:
        return str(v.numerator)
    rounded = round(v, 4)
    text = f"{float(rounded):.4f}".rstrip("0").rstrip(".")
    return text if rounded == v else f"about {text}"


_UNIT_S = {"second": 1, "seconds": 1, "sec": 1, "secs": 1, "minute": 60, "minutes": 60,
           "min": 60, "mins": 60, "hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600}


def parse_duration_s(tokens: list[str | Fraction]) -> int | None:
    """Sum of ``<number|a|an|half an> <unit>`` pairs in ``tokens`` (see :func:`tokenize`).

    ``five minutes and thirty seconds`` → 330; ``half an hour`` → 1800; None when no
    duration is said.
    """
    total = Fraction(0)
    found = False
    for i, tok in enumerate(tokens):
        if not isinstance(tok, str) or tok not in _UNIT_S or i == 0:
            continue
        prev = tokens[i - 1]
        if isinstance(prev, Fraction):
            amount = prev
        elif prev == "half" and i >= 4 and tokens[i - 3:i - 1] == ["and", "a"] \
                and isinstance(tokens[i - 4], Fraction):
            amount = tokens[i - 4] + Fraction(1, 2)  # type: ignore[operator]
        elif prev in ("a", "an", "one"):
            amount = Fraction(1, 2) if i >= 2 and tokens[i - 2] == "half" else Fraction(1)
        else:
            continue
        total += amount * _UNIT_S[tok]
        # "one and a half minutes", "an hour and a half"
        after = tokens[i + 1:i + 4]
        if after == ["and", "a", "half"]:
            total += Fraction(_UNIT_S[tok], 2)
        found = True
    return int(total) if found and total > 0 else None
