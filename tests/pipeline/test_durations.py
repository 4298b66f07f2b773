"""DurationDigest: quantiles within 1% of the exact ones, in bounded memory."""

from __future__ import annotations

import math
import random

import pytest

from mailsift.pipeline.durations import DurationDigest


def _exact_quantile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@pytest.mark.parametrize("fraction", [0.01, 0.25, 0.5, 0.9, 0.95, 0.99])
def test_quantiles_within_one_percent(fraction: float):
    chooser = random.Random(7)
    values = [chooser.lognormvariate(0, 1.5) for _ in range(20_000)]
    digest = DurationDigest()
    for value in values:
        digest.add(value)

    exact = _exact_quantile(values, fraction)

    assert digest.quantile(fraction) == pytest.approx(exact, rel=0.01)


def test_extremes_are_exact():
    digest = DurationDigest()
    for value in (0.0, 0.0004, 3.25, 1200.0):
        digest.add(value)

    assert digest.quantile(0) == 0.0
    assert digest.quantile(1) == 1200.0
    assert len(digest) == 4


def test_median_of_one_value_is_that_value():
    digest = DurationDigest()
    digest.add(1.83)

    assert digest.median == 1.83


def test_buckets_stay_few_over_many_values():
    chooser = random.Random(11)
    digest = DurationDigest()
    for _ in range(200_000):
        digest.add(chooser.uniform(0.01, 10_000))

    # Six decades at 1% per bucket: about 1,390 buckets whatever the number of values.
    assert len(digest._buckets) < 1_400
    assert digest.count == 200_000


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_invalid_duration_rejected(bad: float):
    with pytest.raises(ValueError, match="finite number"):
        DurationDigest().add(bad)


def test_empty_digest_has_no_quantile():
    with pytest.raises(ValueError, match="empty"):
        DurationDigest().quantile(0.5)
