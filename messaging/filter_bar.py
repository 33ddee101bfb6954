"""The filter bar of the list pages ("Messages", "Réponses"): the fields each page offers, which
one template renders (``messaging/_filter_bar.html``) the same way on every page."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass
class FilterField:
    """One field of a filter bar: a select when it has ``choices`` (``blank``: the label of an
    empty first option, none when empty), a text input otherwise (``search``: a search field)."""

    name: str
    label: str
    value: str = ""
    choices: list[tuple[str, str]] | None = None
    blank: str = ""
    placeholder: str = ""
    size: int | None = None
    search: bool = False


def date_field(name: str, label: str, value: str) -> FilterField:
    """A day typed as 26/11/2019 (the pages read it with ``views_replies.filter_date``)."""
    return FilterField(name, label, value, placeholder=_("jj/mm/aaaa"), size=10)
