"""The driver carries out the core's WakeAt: one Tick at that time, the latest asked."""

from __future__ import annotations

import asyncio
import time

import pytest

from voicebot.driver import Driver
from voicebot.turntaking import Output, Policy, TurnTaking
from voicebot.turntaking.inputs import Input, Stop, Tick, WakeAt


class _Core(TurnTaking):
    """A core that asks to be woken (twice: the second replaces the first) and stops
    at the first Tick."""

    def __init__(self, wake_after_s: tuple[float, ...], fail: bool = False) -> None:
        super().__init__(Policy())
        self.wake_after_s = wake_after_s
        self.fail = fail
        self.ticks: list[float] = []

    def start(self) -> list[Output]:
        now = time.monotonic()
        return super().start() + [WakeAt(now + s) for s in self.wake_after_s]

    def feed(self, event: Input, now: float) -> list[Output]:
        if isinstance(event, Tick):
            self.ticks.append(now)
            if self.fail:
                raise RuntimeError("a bug in the core")
            return [Stop("tick")]
        return super().feed(event, now)


def _run(core: _Core) -> float:
    async def main() -> float:
        t0 = time.monotonic()
        driver = Driver(core, session=None)  # type: ignore[arg-type]  # starts no turn
        await asyncio.wait_for(driver.run(), 5)
        return t0
    return asyncio.run(main())


def test_a_tick_comes_at_the_time_asked() -> None:
    core = _Core((0.15,))
    t0 = _run(core)
    [tick] = core.ticks
    assert 0.15 <= tick - t0 < 1.0


def test_a_later_wake_at_replaces_the_earlier() -> None:
    core = _Core((0.05, 0.3))
    t0 = _run(core)
    [tick] = core.ticks
    assert tick - t0 >= 0.3


def test_a_time_already_past_ticks_at_once() -> None:
    core = _Core((-1.0,))
    t0 = _run(core)
    assert core.ticks and core.ticks[0] - t0 < 1.0


def test_a_tick_that_fails_ends_the_conversation_with_its_error() -> None:
    """A Tick runs in a loop callback: its failure must reach run(), as any input's
    does, not only asyncio's log."""
    with pytest.raises(RuntimeError, match="a bug in the core"):
        _run(_Core((0.01,), fail=True))
