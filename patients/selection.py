"""The selection of a search's rows, kept on the server (``SearchSelection``).

A search may return 100,000 rows: a page shows a slice of them, and ticking cannot be one form
field per row (Django refuses more than ``DATA_UPLOAD_MAX_NUMBER_FIELDS``). So a run of a search
gets a selection, stored per user and criteria, that the page changes with small requests:

- "Tous" makes it every row of the search (``all_rows``), "Aucun" makes it empty;
- unticking a row when all are selected, or ticking one when they are not, records that row as an
  exception (``SearchSelectionRow``);
- ``selection_ids`` runs the search again and returns the selected ids, in the search's order:
  what a mass mailing or a campaign starts from.

Selections are purged ``LIFETIME`` after their last use (on the creation of the next one).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from . import selectors
from .criteria import AppointmentCriteria, PatientCriteria
from .models import SearchSelection, SearchSelectionRow

SEARCH_APPOINTMENTS = "rendez-vous"
SEARCH_PATIENTS = "patients"
# A selection serves the page it was made on and the mailing started from it, the same day.
LIFETIME = dt.timedelta(days=1)

ACTIONS = ("tick", "untick", "all", "none")


@dataclass(frozen=True)
class _Search:
    criteria: type
    run: Callable[..., QuerySet]


SEARCHES = {
    SEARCH_APPOINTMENTS: _Search(AppointmentCriteria, selectors.appointment_search),
    SEARCH_PATIENTS: _Search(PatientCriteria, selectors.patient_criteria_search),
}


def selection_for_run(*, user, search: str, criteria, key: str = "") -> SearchSelection:
    """The selection of this run of ``search``: the one named ``key`` when it is ``user``'s and
    made on the same criteria (the pages of one search share it), else a new one with every row
    selected (a new search starts all ticked, as the seeds' grids do). Creating one purges the
    selections unused for ``LIFETIME``."""
    data = criteria.to_json()
    if key:
        found = SearchSelection.objects.filter(key=key, user=user, search=search).first()
        if found is not None and found.criteria == data:
            return found
    selection_purge()
    return SearchSelection.objects.create(key=uuid.uuid4().hex, user=user, search=search, criteria=data)


def selection_get(*, key: str, user) -> SearchSelection | None:
    """``user``'s selection named ``key``, or None (unknown, purged, or someone else's)."""
    if not key:
        return None
    return SearchSelection.objects.filter(key=key, user=user).first()


def selection_purge(*, now: dt.datetime | None = None) -> int:
    """Delete the selections unused for ``LIFETIME`` (and their rows); returns how many."""
    now = now or timezone.now()
    deleted, per_model = SearchSelection.objects.filter(updated_at__lt=now - LIFETIME).delete()
    return per_model.get(SearchSelection._meta.label, 0)


def selection_set_total(selection: SearchSelection, total: int) -> None:
    """Record how many rows the search returns now (the count a selection of "all" starts from);
    also marks the selection as used."""
    selection.total = total
    selection.save(update_fields=["total", "updated_at"])


def selection_change(*, selection: SearchSelection, action: str, ids: Iterable[int] = ()) -> None:
    """Apply one action of the page: "tick" / "untick" the rows ``ids``, select "all" rows of the
    search, or "none". The selection row is locked meanwhile, so two quick clicks apply in turn.
    Raises ValueError for an unknown action."""
    if action not in ACTIONS:
        raise ValueError(gettext("Action inconnue : %(action)s") % {"action": action})
    ids = sorted({int(i) for i in ids})
    with transaction.atomic():
        locked = SearchSelection.objects.select_for_update().get(pk=selection.pk)
        if action in ("all", "none"):
            locked.rows.all().delete()
            locked.all_rows = action == "all"
        elif ids:
            # An exception is an unticked row when all are selected, a ticked one otherwise.
            record = (action == "untick") == locked.all_rows
            if record:
                _add_rows(locked, ids)
            else:
                locked.rows.filter(row_id__in=ids).delete()
        locked.save(update_fields=["all_rows", "updated_at"])
    selection.all_rows = locked.all_rows


def _add_rows(selection: SearchSelection, ids: list[int]) -> None:
    # A row already recorded (a click sent twice) is left as it is.
    SearchSelectionRow.objects.bulk_create(
        [SearchSelectionRow(selection=selection, row_id=i) for i in ids], ignore_conflicts=True
    )


def selection_count(selection: SearchSelection) -> int:
    """How many rows are selected, out of ``selection.total``. One query."""
    exceptions = selection.rows.count()
    return max(selection.total - exceptions, 0) if selection.all_rows else exceptions


def selection_ticked(selection: SearchSelection, ids: Iterable[int]) -> set[int]:
    """Which of ``ids`` (the rows of the page shown) are selected. One query."""
    ids = list(ids)
    exceptions = set(selection.rows.filter(row_id__in=ids).values_list("row_id", flat=True))
    if selection.all_rows:
        return {i for i in ids if i not in exceptions}
    return exceptions


def selection_criteria(selection: SearchSelection):
    return SEARCHES[selection.search].criteria.from_json(selection.criteria)


def selection_ids(selection: SearchSelection) -> list[int]:
    """The ids of the selected rows, in the order of the search, which runs again: the rows of
    the search now, less the unticked ones (or only the ticked ones, if they are still in it).
    One query, whatever the number of rows."""
    qs = SEARCHES[selection.search].run(criteria=selection_criteria(selection))
    exceptions = SearchSelectionRow.objects.filter(selection=selection).values("row_id")
    qs = qs.exclude(pk__in=exceptions) if selection.all_rows else qs.filter(pk__in=exceptions)
    return list(qs.values_list("pk", flat=True))
