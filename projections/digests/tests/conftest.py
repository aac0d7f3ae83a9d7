from __future__ import annotations

from collections.abc import Iterator

import pytest

from projections.digests import builder


@pytest.fixture(autouse=True)
def _fresh_period_cache() -> Iterator[None]:
    builder._period_cache.clear()
    yield
    builder._period_cache.clear()
