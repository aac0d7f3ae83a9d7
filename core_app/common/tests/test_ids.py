from __future__ import annotations

import pytest

from core_app.common.exceptions import NotFound
from core_app.common.ids import MAX_BIGINT, is_plain_int, parse_pk


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("1", True),
        ("007", True),
        (str(MAX_BIGINT), True),
        (str(MAX_BIGINT + 1), False),
        ("9" * 5000, False),
        ("0" * 5000 + "5", True),
        ("\u00b2", False),
        ("\u0663", False),
        ("-1", False),
        ("", False),
        (" 1", False),
    ],
)
def test_is_plain_int(raw: str, expected: bool) -> None:
    assert is_plain_int(raw) is expected


@pytest.mark.parametrize("raw", ["0", "abc", "9" * 5000, True, 2**63, -3, None, "1.0"])
def test_parse_pk_refuses_what_is_not_a_positive_bigint(raw: object) -> None:
    with pytest.raises(NotFound):
        parse_pk(raw)


def test_parse_pk_accepts_ids() -> None:
    assert parse_pk("42") == 42 and parse_pk(7) == 7
