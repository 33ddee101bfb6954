"""French display of times and ages, the way the reference product shows them."""

import datetime as dt

from django import template
from django.utils import timezone
from django.utils.translation import get_language, ngettext

register = template.Library()


@register.filter
def heure(value) -> str:
    """ "10h00" for a datetime (shown in the current time zone, Europe/Paris) or a time; "" for none.
    In English, "10:00"."""
    if not value:
        return ""
    if isinstance(value, dt.datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    if (get_language() or "fr").startswith("en"):
        return f"{value:%H}:{value:%M}"
    return f"{value:%H}h{value:%M}"


@register.filter
def age_fr(birth_date) -> str:
    """ "12 ans 10 mois" under 18, "38 ans" from 18 on, "8 mois" for a baby; "" without a date."""
    if not birth_date:
        return ""
    today = timezone.localdate()
    months = (today.year - birth_date.year) * 12 + today.month - birth_date.month
    if today.day < birth_date.day:
        months -= 1
    if months < 0:
        return ""
    years, months = divmod(months, 12)
    if years == 0:
        return ngettext("%(n)d mois", "%(n)d mois", months) % {"n": months}
    label = ngettext("%(n)d an", "%(n)d ans", years) % {"n": years}
    if years < 18 and months:
        label += " " + ngettext("%(n)d mois", "%(n)d mois", months) % {"n": months}
    return label


@register.filter
def duree(value) -> str:
    """ "15 minutes", "1 heure", "1 h 30 min" for a timedelta; "" for none."""
    if not isinstance(value, dt.timedelta):
        return ""
    minutes = int(value.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes:02d} min"
    if hours:
        return ngettext("%(n)d heure", "%(n)d heures", hours) % {"n": hours}
    return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}


@register.filter
def pluriel(value, suffix: str = "s") -> str:
    """French plural: "0 patient", "1 patient", "2 patients" (Django's pluralize puts an s on 0)."""
    try:
        return suffix if abs(int(value)) > 1 else ""
    except (TypeError, ValueError):
        return ""
