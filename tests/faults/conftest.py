"""Fixtures of the fault tests, on top of `pipeline` (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from faulty_warehouse import FaultyWarehouse

import warehouse
from warehouse.service import WarehouseService


@pytest.fixture
def faulty_pipeline(pipeline) -> Iterator[tuple[object, FaultyWarehouse]]:
    """`pipeline` whose workers reach the warehouse through a `FaultyWarehouse`.

    A second warehouse API around the wrapper takes over the owner file of the chDB
    directory, so workers started after this read its URL and token; the test process
    itself keeps querying chDB directly (`pipeline.query`), past the fault.
    """
    faulty = FaultyWarehouse(pipeline.wh)
    service = WarehouseService(faulty, pipeline.data_dir / "warehouse", "127.0.0.1", 0)
    service.start()
    try:
        owner = warehouse.read_owner(pipeline.data_dir / "warehouse")
        assert owner is not None and owner.url == service.url
        yield pipeline, faulty
    finally:
        faulty.failing.clear()
        pipeline.stop_workers()
        service.stop()
