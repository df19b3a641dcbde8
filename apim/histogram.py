"""The latency histogram shared by the aggregator (which fills it) and the warehouse (which reads it).

Log-scale buckets in the DDSketch style: bucket k holds values in (γ^(k-1), γ^k] with
γ = (1+α)/(1-α), and reports 2γ^k/(γ+1), which is within α of every value in the bucket.
With α = 1 %, any quantile read from a merged histogram is within 1 % of the true value of
the same rank (the product promises 2 %). Histograms merge by adding counts per bucket,
so per-minute histograms sum into hours, days, consumers or endpoints without loss.
"""

from __future__ import annotations

import math
from functools import lru_cache

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(GAMMA)
MIN_VALUE_MS = 1e-3
"""Smaller positive values share the lowest bucket."""
ZERO_BUCKET = -32768
"""Bucket for latencies of exactly zero (Kong logs whole milliseconds); it reports 0."""


@lru_cache(maxsize=65536)  # gateways log whole or tenth milliseconds: values repeat
def bucket_of(value_ms: float) -> int:
    if value_ms <= 0:
        return ZERO_BUCKET
    return math.ceil(math.log(max(value_ms, MIN_VALUE_MS)) / _LOG_GAMMA)


def value_of(bucket: int) -> float:
    if bucket == ZERO_BUCKET:
        return 0.0
    return 2 * GAMMA**bucket / (GAMMA + 1)
