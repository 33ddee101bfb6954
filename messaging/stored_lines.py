"""The lines of a merge kept in the database (a mass-mailing preview, a campaign's check), read
back a page at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet


class StoredLines:
    """Stored lines, in order of their ``position``, as a sequence the paginator slices:
    ``lines[a:b]`` reads those only (one query). ``rows``: the lines' rows (a ``data`` JSON and a
    ``position`` field); ``count``: how many there are (known without a query); ``decode``: a
    line's ``data`` as the page reads it."""

    def __init__(self, rows: QuerySet, count: int, decode: Callable[[dict], Any]):
        self.rows, self._count, self.decode = rows, count, decode

    def count(self) -> int:
        return self._count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        if not isinstance(index, slice):
            found = self[index : index + 1]
            if not found:
                raise IndexError(index)
            return found[0]
        start, stop = index.start or 0, self._count if index.stop is None else index.stop
        rows = self.rows.filter(position__gte=start, position__lt=stop).order_by("position")
        return [self.decode(data) for data in rows.values_list("data", flat=True)]

    def with_missing(self, *, limit: int) -> list:
        """The first ``limit`` lines whose required merge data is missing (their ``missing``
        list is not empty): one query."""
        found = self.rows.filter(data__missing__0__isnull=False).order_by("position")
        return [self.decode(data) for data in found.values_list("data", flat=True)[:limit]]
