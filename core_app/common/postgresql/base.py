"""Django's PostgreSQL backend, with a health check that costs no round trip while it can.

With CONN_HEALTH_CHECKS, Django checks a persistent connection at the start of every request
with `SELECT 1`: a round trip, and a transaction of its own on the server, for each request.
A connection the server dropped (a restart, `pg_terminate_backend`, an idle timeout) has
something to read while it sits idle: the server's FATAL message and the end of the stream.
A healthy idle connection has nothing (this project never LISTENs on a request's connection).
So the check first asks the socket, without waiting; only a socket with something to read
gets Django's `SELECT 1`, which then finds out what it is.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import pq


def has_pending_input(fd: int) -> bool:
    """Whether the socket has something to read (data, or the end of the stream) right now."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status == pq.TransactionStatus.IDLE and not has_pending_input(
            connection.fileno()
        ):
            return True
        return bool(super().is_usable())
