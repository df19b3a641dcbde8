from __future__ import annotations

import math
import random

from apim.histogram import RELATIVE_ACCURACY, ZERO_BUCKET, bucket_of, value_of


def test_every_value_is_reported_within_the_relative_accuracy():
    rng = random.Random(5)
    values = [rng.lognormvariate(3, 2) for _ in range(20_000)] + [0.001, 1, 1000, 3_600_000]
    for v in values:
        assert abs(value_of(bucket_of(v)) - v) <= RELATIVE_ACCURACY * v * (1 + 1e-9), v


def test_zero_has_its_own_bucket_reporting_zero():
    assert bucket_of(0) == ZERO_BUCKET and value_of(ZERO_BUCKET) == 0.0
    assert bucket_of(0.5) != ZERO_BUCKET


def test_buckets_are_ordered_like_values():
    values = sorted(random.Random(1).uniform(0.01, 10_000) for _ in range(5_000))
    buckets = [bucket_of(v) for v in values]
    assert buckets == sorted(buckets)
    assert math.isclose(value_of(bucket_of(100)), 100, rel_tol=RELATIVE_ACCURACY)
