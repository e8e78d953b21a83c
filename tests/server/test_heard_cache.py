"""voicebot.server.heard: the transcript cache (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from voicebot.server.heard import HeardCache
from voicebot.server.plan import Heard


def test_same_bytes_and_format_share_a_key_and_others_do_not() -> None:
    key = HeardCache.key
    assert key(b"RIFF1234", "wav") == key(b"RIFF1234", "wav")
    assert len({key(b"RIFF1234", "wav"), key(b"RIFF1235", "wav"), key(b"RIFF1234", "mp3"),
                key(b"wav" + b"RIFF", ""), key(b"", "wavRIFF")}) == 5


def test_least_recently_used_goes_first() -> None:
    cache = HeardCache(max_entries=2)
    a, b, c = (HeardCache.key(bytes([i]), "wav") for i in range(3))
    cache.put(a, Heard("a", 1.0))
    cache.put(b, Heard("b", 1.0))
    assert cache.get(a) == Heard("a", 1.0)  # a is now the most recently used
    cache.put(c, Heard("c", 1.0))
    assert cache.get(b) is None
    assert [cache.get(k) for k in (a, c)] == [Heard("a", 1.0), Heard("c", 1.0)]
    assert len(cache) == 2


@given(st.lists(st.integers(0, 9), max_size=60), st.integers(1, 5))
def test_holds_the_most_recent_puts_up_to_its_size(keys: list[int], size: int) -> None:
    cache = HeardCache(max_entries=size)
    for k in keys:
        cache.put(bytes([k]), Heard(str(k), 0.0))
    recent = list(dict.fromkeys(reversed(keys)))[:size]
    assert len(cache) == len(recent)
    assert all(cache.get(bytes([k])) == Heard(str(k), 0.0) for k in recent)
