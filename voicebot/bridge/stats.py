"""A fixed-size latency histogram for the bridge's ``/stats`` (and its benchmark). Pure.

Frames arrive by the thousand each second; keeping every delay would grow without
bound, so delays are counted in 0.25 ms bins up to ``max_ms`` (the last bin holds
everything slower). Percentiles come out within a bin's width.
"""

from __future__ import annotations

__all__ = ["DelayHistogram"]


class DelayHistogram:
    """Counts of delays; :meth:`add` in seconds, :meth:`summary` in milliseconds."""

    def __init__(self, *, bin_ms: float = 0.25, max_ms: float = 2000.0) -> None:
        self.bin_ms = bin_ms
        self._counts = [0] * (int(max_ms / bin_ms) + 1)
        self.count = 0
        self.max_s = 0.0

    def add(self, delay_s: float) -> None:
        index = min(len(self._counts) - 1, max(0, int(delay_s * 1000 / self.bin_ms)))
        self._counts[index] += 1
        self.count += 1
        self.max_s = max(self.max_s, delay_s)

    def percentile_ms(self, q: float) -> float | None:
        """The ``q``-th percentile (0-100), within a bin's width above; None: empty."""
        if not self.count:
            return None
        rank = max(1, -(-self.count * q // 100))
        seen = 0
        for index, n in enumerate(self._counts):
            seen += n
            if seen >= rank:  # the bin's upper edge, but never above the slowest seen
                return round(min((index + 1) * self.bin_ms, self.max_s * 1000), 2)
        return None  # pragma: no cover - the counts add up to self.count

    def summary(self) -> dict[str, float | int | None]:
        return {"n": self.count, "p50_ms": self.percentile_ms(50),
                "p99_ms": self.percentile_ms(99), "max_ms": round(self.max_s * 1000, 2)}

    def reset(self) -> None:
        self._counts = [0] * len(self._counts)
        self.count = 0
        self.max_s = 0.0
