"""User reads, with the visibility rule: blocked and deactivated users exist only for staff."""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from core_app.common.exceptions import NotFound
from core_app.common.ids import parse_pk
from core_app.common.rows import Columns
from core_app.users.models import User

USER = Columns.of(User)
ACTIVE_USER_SQL = f"SELECT {USER.select('u')} FROM {User._meta.db_table} AS u WHERE u.id = %s AND u.is_active"


def active_user_get(user_id: int) -> User | None:
    """The active user with this id, or None: the caller of every authenticated request."""
    with connection.cursor() as cursor:
        cursor.execute(ACTIVE_USER_SQL, [user_id])
        row = cursor.fetchone()
    return None if row is None else USER.load(row)


def visible_users(*, viewer: User) -> QuerySet[User]:
    """Users the viewer may see: everyone for staff, otherwise active users who are not blocked."""
    users = User.objects.all()
    if viewer.is_staff_role:
        return users
    return users.filter(is_active=True, is_blocked=False)


def user_get(*, viewer: User, user_id: object) -> User:
    """One user by id; NotFound when missing, malformed or hidden from the viewer."""
    pk = parse_pk(user_id)
    if pk == viewer.pk:
        return viewer
    user = visible_users(viewer=viewer).filter(pk=pk).first()
    if user is None:
        raise NotFound("No such user.")
    return user


def user_get_for_update(*, user_id: object) -> User:
    """Any user by id, for staff actions (NotFound when missing or malformed)."""
    user = User.objects.filter(pk=parse_pk(user_id)).first()
    if user is None:
        raise NotFound("No such user.")
    return user
