from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime, timezone
from typing import Annotated, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicebot.errors import ConfigError
from voicebot.session.builtin_tools import Timer, Timers, describe_time, register_builtins
from voicebot.skills.calc import evaluate, format_number
from voicebot.skills.timers import TimerBook
from voicebot.turntaking.events import Event, TimerCancelled, TimerSet
from voicebot.session.tools import ToolRegistry, schema_for

# -- calc ---------------------------------------------------------------------------


@pytest.mark.parametrize(("expression", "expected"), [
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("7 / 2", 3.5),
    ("7 // 2", 3),
    ("-7 % 3", 2),
    ("2 ** 10", 1024),
    ("2 ^ 10", 1024),  # what people mean by ^
    ("3 × 4 ÷ 2", 6.0),
    ("sqrt(16) + abs(-2)", 6.0),
    ("max(1, 5, 3) - min(4, 2)", 3),
    ("round(pi, 2)", 3.14),
    ("log(e)", 1.0),
    ("log(8, 2)", 3.0),
    ("factorial(5)", 120),
    ("1e3 + .5", 1000.5),
])
def test_calc_values(expression: str, expected: float) -> None:
    assert evaluate(expression) == pytest.approx(expected)


@pytest.mark.parametrize("expression", [
    "__import__('os').system('true')", "open('/etc/passwd')", "x + 1", "(1).__class__",
    "[1, 2]", "'a' * 3", "lambda: 1", "1 if 1 else 2", "sqrt(x=4)", "1/0", "9 ** 9 ** 9",
    "10 ** 5000", "2 ** 0.5 ** -1e9", "(-8) ** 0.5", "factorial(1000)", "factorial(2.5)",
    "sqrt(-1)", "exp(1000)", "True + 1", "1 +", "", "1" * 400, "min()",
])
def test_calc_refuses(expression: str) -> None:
    with pytest.raises(ValueError):
        evaluate(expression)


@given(st.integers(-10**6, 10**6), st.integers(-10**6, 10**6),
       st.sampled_from(["+", "-", "*"]))
def test_calc_integer_arithmetic_matches_python(a: int, b: int, op: str) -> None:
    expected = {"+": a + b, "-": a - b, "*": a * b}[op]
    assert evaluate(f"{a} {op} ({b})") == expected


@given(st.floats(-1e6, 1e6, allow_nan=False), st.floats(0.001, 1e6))
def test_calc_division_matches_python(a: float, b: float) -> None:
    assert evaluate(f"{a!r} / {b!r}") == a / b


@pytest.mark.parametrize(("value", "text"), [
    (3, "3"), (2.0, "2"), (0.1 + 0.2, "0.3"), (1 / 3, "0.333333333333"), (10**20, str(10**20)),
    (1e300, "1e+300"),
])
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


# -- schema from hints ----------------------------------------------------------------


def test_schema_from_hints() -> None:
    def f(name: Annotated[str, "who"], count: int, ratio: float = 0.5, loud: bool = False,
          tags: list[str] | None = None, mode: Literal["a", "b"] = "a",
          extra: dict[str, int] | None = None) -> str:
        return ""

    assert schema_for(f) == {
        "type": "object", "additionalProperties": False, "required": ["name", "count"],
        "properties": {
            "name": {"type": "string", "description": "who"},
            "count": {"type": "integer"},
            "ratio": {"type": "number", "default": 0.5},
            "loud": {"type": "boolean", "default": False},
            "tags": {"anyOf": [{"type": "array", "items": {"type": "string"}},
                               {"type": "null"}], "default": None},
            "mode": {"enum": ["a", "b"], "default": "a"},
            "extra": {"anyOf": [{"type": "object", "additionalProperties": {"type": "integer"}},
                                {"type": "null"}], "default": None},
        },
    }


def test_unsupported_hint_is_a_config_error() -> None:
    def f(when: datetime) -> str:
        return ""

    with pytest.raises(ConfigError, match="parameters="):
        schema_for(f)


# -- registry -------------------------------------------------------------------------


@pytest.fixture
def registry() -> ToolRegistry:
    reg = ToolRegistry(timeout_s=0.5)

    @reg.tool(description="Add two numbers.")
    def add(a: int, b: int) -> int:
        return a + b

    @reg.tool()
    async def shout(text: str) -> str:
        """Upper-case the text.

        More details that are not part of the description."""
        return text.upper()

    @reg.tool(name="where", parameters={"type": "object", "properties": {}})
    def thread_name() -> str:
        return threading.current_thread().name

    @reg.tool()
    def boom() -> str:
        raise RuntimeError("key sk-abcdefghijklmnop leaked")

    @reg.tool()
    async def slow() -> str:
        await asyncio.sleep(5)
        return "late"

    return reg


def test_specs(registry: ToolRegistry) -> None:
    specs = {s["function"]["name"]: s for s in registry.specs()}
    assert list(specs) == ["add", "shout", "where", "boom", "slow"]
    assert specs["add"]["type"] == "function"
    assert specs["add"]["function"]["description"] == "Add two numbers."
    assert specs["shout"]["function"]["description"] == "Upper-case the text."
    assert specs["where"]["function"]["parameters"] == {"type": "object", "properties": {}}


def test_duplicate_name_refused(registry: ToolRegistry) -> None:
    with pytest.raises(ConfigError):
        registry.add(lambda: 1, name="add")


@pytest.mark.anyio
@pytest.mark.parametrize(("name", "arguments", "expected"), [
    ("add", '{"a": 2, "b": 3}', "5"),
    ("shout", '{"text": "hi"}', "HI"),
    ("add", "", "error: invalid arguments: 'a' is a required property"),
    ("add", '{"a": 1, "b": "x"}', "error: invalid arguments at b: 'x' is not of type 'integer'"),
    ("add", '{"a": 1, "b": 2, "c": 3}', "error: invalid arguments"),
    ("add", "{not json", "error: arguments are not valid JSON"),
    ("add", "[1, 2]", "error: arguments must be a JSON object"),
    ("nope", "{}", "error: unknown tool 'nope' (available: add, shout, where, boom, slow)"),
    ("boom", "{}", "error: boom failed: RuntimeError: key sk-*** leaked"),
    ("slow", "{}", "error: slow did not finish within 0.5 s"),
])
async def test_call_returns_strings_never_raises(registry: ToolRegistry, name: str,
                                                 arguments: str, expected: str) -> None:
    assert (await registry.call(name, arguments)).startswith(expected)


@pytest.mark.anyio
async def test_sync_tools_run_off_the_loop_thread(registry: ToolRegistry) -> None:
    assert await registry.call("where", "{}") != threading.current_thread().name


# -- built-ins ------------------------------------------------------------------------

NOON_UTC = datetime(2024, 7, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("zone", "expected"), [
    ("Europe/Paris", "Monday 1 July 2024, 14:00 (Europe/Paris)"),
    ("America/New_York", "Monday 1 July 2024, 08:00 (America/New_York)"),
    ("UTC", "Monday 1 July 2024, 12:00 (UTC)"),
])
def test_describe_time(zone: str, expected: str) -> None:
    assert describe_time(NOON_UTC, zone) == expected


def test_describe_time_unknown_zone() -> None:
    with pytest.raises(ValueError, match="IANA"):
        describe_time(NOON_UTC, "Mars/Olympus")


@pytest.mark.anyio
async def test_builtin_time_and_calculate() -> None:
    reg = ToolRegistry()
    register_builtins(reg, utc_now=lambda: NOON_UTC)
    assert "timer" not in " ".join(s["function"]["name"] for s in reg.specs())
    assert await reg.call("get_current_time", '{"timezone": "Asia/Tokyo"}') == \
        describe_time(NOON_UTC, "Asia/Tokyo")
    assert (await reg.call("get_current_time", "{}")).startswith("Monday 1 July 2024")
    assert (await reg.call("get_current_time", '{"timezone": "Nowhere/X"}')).startswith(
        "error: get_current_time failed: ValueError: unknown time zone")
    assert await reg.call("calculate", json.dumps({"expression": "sqrt(2) ** 2"})) == "2"
    assert await reg.call("calculate", '{"expression": "17.5 * 3 / 4"}') == "13.125"


@pytest.mark.anyio
async def test_timers_really_fire_in_order() -> None:
    fired: list[tuple[Timer, float]] = []
    loop = asyncio.get_running_loop()
    timers = Timers(on_fire=lambda t: fired.append((t, loop.time())))
    reg = ToolRegistry()
    register_builtins(reg, timers=timers)

    assert await reg.call("set_timer", '{"duration_s": 0.3, "label": "tea"}') == \
        "timer 1 set for 0.3 seconds"
    assert await reg.call("set_timer", '{"duration_s": 0.1}') == "timer 2 set for 0.1 seconds"
    await reg.call("set_timer", '{"duration_s": 3600}')
    listed = json.loads(await reg.call("list_timers", "{}"))
    assert [t["id"] for t in listed] == [2, 1, 3]
    assert listed[2]["remaining_s"] == pytest.approx(3600, abs=1)
    assert await reg.call("cancel_timer", '{"timer_id": 3}') == "cancelled"
    assert await reg.call("cancel_timer", '{"timer_id": 3}') == "no running timer 3"

    first = await asyncio.wait_for(timers.fired.get(), 2)
    second = await asyncio.wait_for(timers.fired.get(), 2)
    assert (first.id, second.id) == (2, 1)
    for timer, fired_at in fired:
        assert fired_at >= timer.due_at
    assert second.announcement == "The tea timer for 0.3 seconds is done."
    assert json.loads(await reg.call("list_timers", "{}")) == []
    assert (await reg.call("set_timer", '{"duration_s": -1}')).startswith("error:")


@pytest.mark.parametrize(("seconds", "spoken"), [
    (60, "1 minute"), (90, "1 minute and 30 seconds"), (3600, "1 hour"),
    (3725, "1 hour, 2 minutes and 5 seconds"), (300, "5 minutes"),
])
def test_timer_announcement(seconds: float, spoken: str) -> None:
    timer = Timer(1, "", seconds, 0.0)
    assert timer.announcement == f"Your timer for {spoken} is done."



@pytest.mark.anyio
async def test_timers_report_set_and_cancelled_records() -> None:
    records: list[Event] = []
    timers = Timers(on_change=records.append)
    reg = ToolRegistry()
    register_builtins(reg, timers=timers)
    await reg.call("set_timer", '{"duration_s": 600, "label": "pasta"}')
    await reg.call("set_timer", '{"duration_s": 60}')
    await reg.call("cancel_timer", '{"timer_id": 1}')
    await reg.call("cancel_timer", '{"timer_id": 1}')  # no such timer: nothing to report
    timers.cancel_all()
    assert records == [TimerSet(id="1", label="pasta", duration_s=600.0),
                       TimerSet(id="2", label=None, duration_s=60.0),
                       TimerCancelled(id="1"), TimerCancelled(id="2")]


@pytest.mark.anyio
async def test_a_timer_dropped_past_the_limit_is_reported_cancelled() -> None:
    records: list[Event] = []
    timers = Timers(on_change=records.append)
    for _ in range(TimerBook.MAX_TIMERS + 1):
        timers.set(600)
    assert [r for r in records if isinstance(r, TimerCancelled)] == [TimerCancelled(id="1")]
    timers.cancel_all()
