from __future__ import annotations

import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicebot.session import retry

NOW = 1_700_000_000.0


@pytest.mark.parametrize(("status", "headers", "expected"), [
    (408, {}, True), (409, {}, True), (429, {}, True), (500, {}, True), (503, {}, True),
    (599, {}, True), (400, {}, False), (401, {}, False), (404, {}, False), (422, {}, False),
    (429, {"x-should-retry": "false"}, False),
    (503, {"X-Should-Retry": "false"}, False),
    (400, {"x-should-retry": "true"}, True),
    (400, {"x-should-retry": "maybe"}, False),
])
def test_should_retry_status(status: int, headers: dict[str, str], expected: bool) -> None:
    assert retry.should_retry_status(status, headers) is expected


def _http_date(epoch: float) -> str:
    return email.utils.formatdate(epoch, usegmt=True)


@pytest.mark.parametrize(("headers", "expected"), [
    ({"retry-after-ms": "1500"}, 1.5),
    ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # ms wins
    ({"retry-after-ms": "junk", "retry-after": "3"}, 3.0),  # unusable ms: next header
    ({"Retry-After": "2"}, 2.0),
    ({"retry-after": "0.5"}, 0.5),
    ({"retry-after": _http_date(NOW + 7)}, 7.0),
    ({"retry-after": _http_date(NOW - 7)}, None),  # in the past
    ({"retry-after": "0"}, None),
    ({"retry-after": "-3"}, None),
    ({"retry-after": "61"}, None),  # too long: back off instead
    ({"retry-after": "60"}, 60.0),
    ({"retry-after-ms": "60001"}, None),
    ({"retry-after": "nan"}, None),
    ({"retry-after": "soon"}, None),
    ({}, None),
])
def test_server_wait(headers: dict[str, str], expected: float | None) -> None:
    assert retry.server_wait_s(headers, NOW) == expected


def test_backoff_doubles_and_is_bounded() -> None:
    waits = [retry.backoff_s(i, 0.0) for i in range(8)]
    assert waits[0] == retry.INITIAL_BACKOFF_S
    assert all(b == min(2 * a, retry.MAX_BACKOFF_S) for a, b in zip(waits, waits[1:]))
    assert waits[-1] == retry.MAX_BACKOFF_S


@given(st.integers(0, 50), st.floats(0.0, 1.0, exclude_max=True))
def test_backoff_jitter_stays_in_band(index: int, jitter: float) -> None:
    base = min(retry.INITIAL_BACKOFF_S * 2 ** index, retry.MAX_BACKOFF_S)
    assert 0.75 * base <= retry.backoff_s(index, jitter) <= base


@given(st.dictionaries(st.sampled_from(["retry-after", "retry-after-ms", "x-other"]),
                       st.text(max_size=40)),
       st.integers(0, 5), st.floats(0.0, 1.0, exclude_max=True))
def test_delay_is_always_usable(headers: dict[str, str], index: int, jitter: float) -> None:
    """Whatever the headers say, the wait is positive and at most a minute."""
    delay = retry.retry_delay_s(index, headers, now_epoch_s=NOW, jitter=jitter)
    assert 0.0 < delay <= retry.MAX_HONOURED_WAIT_S
