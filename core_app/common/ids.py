"""Primary keys taken from URLs: anything that is not a bigint is simply not found."""

from __future__ import annotations

from core_app.common.exceptions import NotFound

MAX_BIGINT = 2**63 - 1


def is_plain_int(raw: str, maximum: int = MAX_BIGINT) -> bool:
    """ASCII digits only (str.isdigit also accepts e.g. '²') and at most `maximum`."""
    if not (raw.isascii() and raw.isdigit()):
        return False
    digits = raw.lstrip("0") or "0"
    # int() refuses very long strings; such a number is over any maximum anyway.
    return len(digits) <= len(str(maximum)) and int(digits) <= maximum


def parse_pk(raw: object) -> int:
    """An id from a path or query; NotFound for non-integers and out-of-range values."""
    if isinstance(raw, bool):
        raise NotFound()
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and is_plain_int(raw):
        value = int(raw)
    else:
        raise NotFound()
    if not 0 < value <= MAX_BIGINT:
        raise NotFound()
    return value
