"""The retry schedule of the device supervisors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicebot.audio.backoff import Backoff


def test_default_schedule() -> None:
    b = Backoff()
    assert [b.next_delay_s() for _ in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    b.reset()
    assert b.next_delay_s() == 0.5


def test_many_failures_stay_capped() -> None:
    b = Backoff()
    for _ in range(5000):
        delay = b.next_delay_s()
    assert delay == 10.0


@pytest.mark.parametrize("kwargs", [{"initial_s": 0}, {"initial_s": 20, "max_s": 10},
                                    {"factor": 0.5}])
def test_rejects_nonsense(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


@given(initial=st.floats(0.01, 5), factor=st.floats(1, 4), cap=st.floats(5, 60),
       n=st.integers(1, 60))
def test_never_shrinks_and_never_exceeds_the_cap(initial: float, factor: float, cap: float,
                                                 n: int) -> None:
    b = Backoff(initial, factor, cap)
    delays = [b.next_delay_s() for _ in range(n)]
    assert delays[0] == pytest.approx(initial)
    assert all(a <= b_ + 1e-12 for a, b_ in zip(delays, delays[1:]))
    assert all(d <= cap for d in delays)
