"""Search of pages (name, handle, tag) and users (username, first or last name).

Matching is `ILIKE '%q%'` on the raw columns, which the trigram GIN indexes serve
(Django's `icontains` wraps the column in UPPER() and would bypass them). Pages match through
a UNION of three index scans (name, uuid, tag name); an OR with the tag subquery would
force a sequential scan. Ranking: exact match, then prefix, then trigram similarity.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.search import TrigramSimilarity
from django.db.models import Case, F, IntegerField, Lookup, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Greatest

from core_app.pages.models import Page, Tag
from core_app.pages.selectors import page_list
from core_app.pages.visibility import blocked_page_q
from core_app.users.models import User

EXACT, PREFIX, PARTIAL = 0, 1, 2


class ILike(Lookup):  # type: ignore[type-arg]
    """`lhs ILIKE rhs`, used directly as a filter expression (not registered on any field)."""

    lookup_name = "ilike"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", (*lhs_params, *rhs_params)


def contains_pattern(q: str) -> str:
    """`%q%` with LIKE's own wildcards (and the escape character) taken literally."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _rank(q: str, fields: tuple[str, ...]) -> Case:
    exact = Q()
    prefix = Q()
    for field in fields:
        exact |= Q(**{f"{field}__iexact": q})
        prefix |= Q(**{f"{field}__istartswith": q})
    return Case(
        When(exact, then=Value(EXACT)),
        When(prefix, then=Value(PREFIX)),
        default=Value(PARTIAL),
        output_field=IntegerField(),
    )


def _similarity(q: str, fields: tuple[str, ...]) -> Greatest:
    return Greatest(*(TrigramSimilarity(field, q) for field in fields))


def _matching_page_ids(pattern: str) -> RawSQL:
    page, tag, through = Page._meta.db_table, Tag._meta.db_table, Page.tags.through._meta.db_table
    sql = (
        f"SELECT id FROM {page} WHERE name ILIKE %s "
        f"UNION SELECT id FROM {page} WHERE uuid ILIKE %s "
        f"UNION SELECT pt.page_id FROM {through} pt JOIN {tag} t ON t.id = pt.tag_id WHERE t.name ILIKE %s"
    )
    return RawSQL(sql, (pattern, pattern, pattern))


def page_search(*, viewer: User, q: str, limit: int) -> QuerySet[Page]:
    """Pages matching `q`, best first, annotated for PageSerializer; blocked ones only for staff."""
    pages = page_list(viewer=viewer).filter(id__in=_matching_page_ids(contains_pattern(q)))
    if not viewer.is_staff_role:
        pages = pages.exclude(blocked_page_q())
    fields = ("name", "uuid")
    ranked = pages.annotate(search_rank=_rank(q, fields), search_similarity=_similarity(q, fields))
    return ranked.order_by("search_rank", "-search_similarity", "-id")[:limit]


def user_search(*, viewer: User, q: str, limit: int) -> QuerySet[User]:
    """Active users matching `q`, best first; blocked ones only for staff."""
    fields = ("username", "first_name", "last_name")
    pattern = contains_pattern(q)
    matches = Q()
    for field in fields:
        matches |= Q(ILike(F(field), pattern))
    users = User.objects.filter(matches, is_active=True)
    if not viewer.is_staff_role:
        users = users.filter(is_blocked=False)
    ranked = users.annotate(search_rank=_rank(q, fields), search_similarity=_similarity(q, fields))
    return ranked.order_by("search_rank", "-search_similarity", "-id")[:limit]
