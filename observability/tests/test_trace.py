"""The request id: what is accepted, what is made, and how it is bound."""

from __future__ import annotations

import pytest

from observability.trace import (
    EVENT,
    MAX_LENGTH,
    accept_request_id,
    bound,
    current_request_id,
    new_request_id,
    request_id_from_headers,
    valid_request_id,
)


@pytest.mark.parametrize(
    "value",
    [
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "0b5c6d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e",
        "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "req:1.2_x+y/z=@host-1",
        "x",
        "a" * MAX_LENGTH,
    ],
)
def test_sane_ids_are_kept(value: str) -> None:
    assert valid_request_id(value) == value
    assert accept_request_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "a" * (MAX_LENGTH + 1),
        "two words",
        "line\nbreak",
        'quote"d',
        "semi;colon",
        "ünïcode",
        "tab\there",
        42,
        b"\xff\xfe",
    ],
)
def test_anything_else_is_replaced_by_a_fresh_id_never_refused(value: object) -> None:
    assert valid_request_id(value) is None
    fresh = accept_request_id(value)
    assert valid_request_id(fresh) == fresh and len(fresh) == 32


def test_fresh_ids_differ() -> None:
    assert len({new_request_id() for _ in range(100)}) == 100


def test_bytes_from_a_broker_header_are_decoded() -> None:
    assert valid_request_id(b"abc-1") == "abc-1"
    assert request_id_from_headers({"request_id": b"abc-1", "position": 3}) == "abc-1"


def test_headers_without_a_valid_id_give_none() -> None:
    assert request_id_from_headers(None) is None
    assert request_id_from_headers({}) is None
    assert request_id_from_headers({"position": 1}) is None
    assert request_id_from_headers({"request_id": "bad id"}) is None


def test_bound_binds_for_the_block_and_nests() -> None:
    assert current_request_id() is None
    with bound("outer"):
        assert current_request_id() == "outer"
        with bound("inner", event_id="e-1", event_type="post.created"):
            assert current_request_id() == "inner"
            assert EVENT.get() == ("e-1", "post.created")
        assert current_request_id() == "outer" and EVENT.get() is None
        with bound(None):
            assert current_request_id() is None
    assert current_request_id() is None


def test_bound_unbinds_when_the_block_fails() -> None:
    with pytest.raises(RuntimeError), bound("r-1", event_id="e-1"):
        raise RuntimeError
    assert current_request_id() is None and EVENT.get() is None
