"""Models loaded from hand-written SQL on the hottest paths (the caller, the feed's posts).

Building and compiling an ORM query costs far more CPU than running it (a few hundred
microseconds per statement with joins and subqueries); these statements are written once,
and their rows become model instances through `Model.from_db`, exactly as the ORM would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Columns(Generic[M]):
    """All concrete columns of a model, in the order `Model.from_db` takes them."""

    model: type[M]
    attnames: tuple[str, ...]
    columns: tuple[str, ...]

    @classmethod
    def of(cls, model: type[M]) -> Columns[M]:
        fields = model._meta.concrete_fields
        # Such a field would need its conversion applied to the raw value; none of ours has one.
        assert not any(hasattr(f, "from_db_value") for f in fields), f"{model.__name__}: a converted field"
        return cls(model, tuple(f.attname for f in fields), tuple(str(f.column) for f in fields))

    def select(self, alias: str) -> str:
        """The select list, e.g. `post."id", post."page_id", ...`."""
        return ", ".join(f'{alias}."{column}"' for column in self.columns)

    def load(self, row: Sequence[Any], start: int = 0) -> M:
        """The instance whose values start at `row[start]`."""
        values = row[start : start + len(self.columns)]
        return self.model.from_db(DEFAULT_DB_ALIAS, self.attnames, values)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.columns)


def cache_related(instance: Model, field: str, related: Model) -> None:
    """Attach an already loaded related object, as `select_related` does (no descriptor checks)."""
    instance._meta.get_field(field).set_cached_value(instance, related)  # type: ignore[union-attr]
