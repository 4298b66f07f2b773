"""Quantiles of a run's per-email durations, in memory that does not grow with the run."""

from __future__ import annotations

import math

RELATIVE_PRECISION = 0.01
"""Each bucket spans 1% of its lower bound, so a quantile read from it is within 1% of the
exact value."""
MIN_DURATION_MS = 0.001
"""Durations below one microsecond share the first bucket."""

_LOG_RATIO = math.log1p(RELATIVE_PRECISION)


class DurationDigest:
    """Count of durations in logarithmic buckets, for the median and other quantiles.

    A list of every duration costs about 32 bytes per email in CPython, which is 3 MB per
    100,000 emails and has no bound. This digest keeps one counter per occupied bucket: from
    one microsecond to one hour there are at most 2,200 of them.
    """

    __slots__ = ("_buckets", "count", "maximum", "minimum")

    def __init__(self) -> None:
        self._buckets: dict[int, int] = {}
        self.count = 0
        self.minimum = math.inf
        self.maximum = -math.inf

    def add(self, duration_ms: float) -> None:
        if not math.isfinite(duration_ms) or duration_ms < 0:
            raise ValueError(f"duration must be a finite number of ms >= 0, got {duration_ms}")
        index = _bucket_of(duration_ms)
        self._buckets[index] = self._buckets.get(index, 0) + 1
        self.count += 1
        self.minimum = min(self.minimum, duration_ms)
        self.maximum = max(self.maximum, duration_ms)

    def __len__(self) -> int:
        return self.count

    def quantile(self, fraction: float) -> float:
        """Return the duration below which `fraction` of the durations lie, within 1%.

        Uses the nearest-rank definition. The smallest and largest durations are kept as
        they were added, so the first and last ranks are exact.
        """
        if not 0 <= fraction <= 1:
            raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
        if self.count == 0:
            raise ValueError("quantile of an empty digest")

        rank = max(1, math.ceil(fraction * self.count))
        if rank == 1:
            return self.minimum
        if rank == self.count:
            return self.maximum

        seen = 0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= rank:
                # The geometric middle of the bucket is within half a bucket of any value in it.
                middle = MIN_DURATION_MS * math.exp((index + 0.5) * _LOG_RATIO)
                return min(max(middle, self.minimum), self.maximum)
        return self.maximum

    @property
    def median(self) -> float:
        return self.quantile(0.5)


def _bucket_of(duration_ms: float) -> int:
    if duration_ms <= MIN_DURATION_MS:
        return 0
    return int(math.log(duration_ms / MIN_DURATION_MS) / _LOG_RATIO)
