"""Primary keys taken from URLs: anything that is not a bigint is simply not found."""

from __future__ import annotations

from core_app.common.exceptions import NotFound

_MAX_BIGINT = 2**63 - 1


def parse_pk(raw: object) -> int:
    """An id from a path or query; NotFound for non-integers and out-of-range values."""
    if isinstance(raw, bool):
        raise NotFound()
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and raw.isascii() and raw.isdigit():
        value = int(raw)
    else:
        raise NotFound()
    if not 0 < value <= _MAX_BIGINT:
        raise NotFound()
    return value
