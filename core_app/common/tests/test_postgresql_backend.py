"""The health check of a persistent connection: no round trip while the connection is idle and
quiet, Django's `SELECT 1` when the socket has something to read, and a connection the server
dropped is found dead either way."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any
from unittest import mock

import psycopg
import pytest
from django.db import connection, connections
from django.db.backends.postgresql.base import DatabaseWrapper as DjangoWrapper

from core_app.common.postgresql.base import DatabaseWrapper, has_pending_input


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair()
    with left, right:
        yield left, right


def test_a_quiet_socket_has_no_pending_input(pair: tuple[socket.socket, socket.socket]) -> None:
    assert has_pending_input(pair[0].fileno()) is False


def test_data_from_the_peer_is_pending_input(pair: tuple[socket.socket, socket.socket]) -> None:
    pair[1].sendall(b"E")
    assert has_pending_input(pair[0].fileno()) is True


def test_the_end_of_the_stream_is_pending_input(pair: tuple[socket.socket, socket.socket]) -> None:
    pair[1].close()
    assert has_pending_input(pair[0].fileno()) is True


def test_the_project_uses_this_backend() -> None:
    assert isinstance(connections["default"], DatabaseWrapper)


def _admin() -> psycopg.Connection[Any]:
    """A connection of its own, to watch or end the test's connection from the server's side."""
    params = {k: v for k, v in connection.get_connection_params().items() if k != "cursor_factory"}
    return psycopg.connect(**params, autocommit=True)


def _statements(run: Any) -> list[str]:
    """What `run()` sent to the server, seen from the server (pg_stat_activity's last query)."""
    pid = connection.connection.info.backend_pid
    with _admin() as admin:

        def last() -> str:
            row = admin.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
            return str(row[0]) if row else ""

        connection.connection.execute("SELECT 'marker'")
        run()
        return [] if last() == "SELECT 'marker'" else [last()]


@pytest.mark.django_db(transaction=True)
def test_an_idle_quiet_connection_is_usable_without_a_round_trip() -> None:
    connection.ensure_connection()
    with mock.patch.object(DjangoWrapper, "is_usable", autospec=True) as select_one:
        assert connection.is_usable() is True
    select_one.assert_not_called()
    assert _statements(connection.is_usable) == []


@pytest.mark.django_db(transaction=True)
def test_a_connection_with_something_to_read_gets_djangos_check() -> None:
    connection.ensure_connection()
    with (
        mock.patch("core_app.common.postgresql.base.has_pending_input", return_value=True),
        mock.patch.object(DjangoWrapper, "is_usable", autospec=True, return_value=True) as select_one,
    ):
        assert connection.is_usable() is True
    select_one.assert_called_once_with(connection)


@pytest.mark.django_db(transaction=True)
def test_a_connection_in_a_transaction_gets_djangos_check() -> None:
    connection.ensure_connection()
    connection.connection.execute("BEGIN")
    try:
        assert _statements(connection.is_usable) == ["SELECT 1"]
    finally:
        connection.connection.execute("ROLLBACK")


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_dropped_is_not_usable() -> None:
    connection.close()
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    with _admin() as admin:
        # waits until the backend has exited, as after a restart
        assert admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone() == (True,)
    assert connection.is_usable() is False
    connection.close()


def test_no_connection_or_a_closed_one_is_not_usable() -> None:
    wrapper = DatabaseWrapper(connection.settings_dict, alias="other")
    assert wrapper.is_usable() is False
    wrapper.connection = mock.Mock(closed=True, broken=False)
    assert wrapper.is_usable() is False
    wrapper.connection = mock.Mock(closed=False, broken=True)
    assert wrapper.is_usable() is False
