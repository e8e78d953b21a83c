"""The pure skill cores shared by the client's tools and the local server's assistant."""

from __future__ import annotations

import subprocess
import sys
import time
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicebot.server.numbers import find_expression, tokenize
from voicebot.skills.calc import evaluate
from voicebot.skills.timers import TimerBook, say_duration


@pytest.mark.parametrize("seconds,spoken", [
    (0, "0 seconds"), (0.3, "0.3 seconds"), (1, "1 second"), (59.6, "1 minute"),
    (90, "1 minute and 30 seconds"), (3600, "1 hour"), (3660, "1 hour and 1 minute"),
    (3725, "1 hour, 2 minutes and 5 seconds"), (-5, "0 seconds"),
])
def test_one_way_to_say_a_duration(seconds, spoken):
    assert say_duration(seconds) == spoken


def test_book_lists_running_soonest_first_and_keeps_ended_for_a_while():
    book = TimerBook(keep_ended_s=100)
    a = book.set(60, 0.0, "eggs")
    b = book.set(30, 0.0)
    assert [t.id for t, _ in book.pending(10.0)] == [b.id, a.id]
    assert book.pending(10.0)[0][1] == 20
    assert [t.id for t in book.active(50.0)] == [a.id, b.id]   # b ran out, still known
    assert [t.id for t, _ in book.pending(50.0)] == [a.id]
    assert book.active(131.0) == [a]                          # b forgotten after 100 s
    assert book.remove(a.id) == a and book.remove(a.id) is None
    assert book.set(5, 200.0).id == 1                          # an empty book counts anew
    with pytest.raises(ValueError):
        book.set(0, 0.0)
    with pytest.raises(ValueError):
        book.set(book.max_duration_s + 1, 0.0)


def test_exact_arithmetic():
    assert evaluate("1/3", exact=True) == Fraction(1, 3)
    assert evaluate("0.1 + 0.2", exact=True) == Fraction(3, 10)
    assert evaluate("(7/2) ** 2", exact=True) == Fraction(49, 4)
    assert evaluate("sqrt(16)", exact=True) == 4
    assert evaluate("1/3") == pytest.approx(1 / 3) and isinstance(evaluate("1/3"), float)


@pytest.mark.parametrize("expression", ["0.5 ** 1000000000", "(1/3) ** -100000",
                                        "2 ** 300", "(3/2) ** 200"])
def test_exact_powers_are_refused_before_they_are_computed(expression):
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="too large"):
        evaluate(expression, exact=True, max_int_bits=200)
    assert time.perf_counter() - t0 < 5  # generous: the refusal is arithmetic on sizes


@given(st.fractions(max_denominator=1000), st.fractions(max_denominator=1000),
       st.sampled_from("+-*/"))
def test_exact_matches_fraction_arithmetic(a, b, op):
    text = f"({a.numerator}/{a.denominator}) {op} ({b.numerator}/{b.denominator})"
    if op == "/" and b == 0:
        with pytest.raises(ValueError, match="division by zero"):
            evaluate(text, exact=True)
        return
    expected = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else None}[op]
    assert evaluate(text, exact=True) == expected


@pytest.mark.parametrize("text,problem", [
    ("what is 5 divided by 0", "you can't divide by zero"),
    ("what is 2 to the power of 1000", "the answer is too large for me"),
    ("the square root of minus 4", "negative numbers have no real square root"),
])
def test_spoken_problems(text, problem):
    expr = find_expression(tokenize(text))
    assert expr is not None and expr.value is None and expr.problem == problem


PURE = ["voicebot.skills.calc", "voicebot.skills.timers", "voicebot.speech.voices",
        "voicebot.server.validate", "voicebot.server.messages", "voicebot.server.plan",
        "voicebot.server.assistant",
        "voicebot.server.conversations", "voicebot.server.numbers",
        "voicebot.server.negotiate", "voicebot.server.chunks", "voicebot.server.store",
        "voicebot.speech.sentences"]
IO = ["asyncio", "httpx", "sounddevice", "soxr", "webrtcvad", "starlette", "uvicorn",
      "websockets", "anyio"]


@pytest.mark.parametrize("module", PURE)
def test_pure_cores_import_no_io_library(module):
    code = (f"import sys, {module}; "
            f"print(' '.join(m for m in {IO!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert loaded == [], f"{module} loads {loaded}"
