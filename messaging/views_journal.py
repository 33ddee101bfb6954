"""The "Messages" page: every message sent by the practice, what failed and what waits."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .filter_bar import FilterField, date_field
from .gateways import configured_name
from .models import Channel, MessageStatus
from .selectors_sending import (
    DIRECTIONS,
    STATUS_GROUPS,
    journal_entries,
    message_status_counts,
    recent_mailings,
)
from .views_replies import filter_date as _date
from .views_replies import may_read_replies


@login_required
@permission_required("practice.send_messages", raise_exception=True)
def index(request):
    today = timezone.localdate()
    errors = []
    raw_from, raw_to = request.GET.get("du", ""), request.GET.get("au", "")
    date_from = _date(raw_from) if raw_from else today - dt.timedelta(days=30)
    date_to = _date(raw_to) if raw_to else today
    if date_from is None or date_to is None:
        errors.append(_("Date invalide : utilisez le format jj/mm/aaaa."))
        date_from = date_from or today - dt.timedelta(days=30)
        date_to = date_to or today
    if date_from > date_to:
        errors.append(_("La date de début est après la date de fin : les dates ont été inversées."))
        date_from, date_to = date_to, date_from
    status_group = request.GET.get("etat", "")
    if status_group not in STATUS_GROUPS:
        status_group = ""
    channel = request.GET.get("canal", "")
    if channel not in Channel.values:
        channel = ""
    direction = request.GET.get("sens", "")
    if direction not in DIRECTIONS:
        direction = ""
    query = request.GET.get("q", "").replace("\x00", "")  # PostgreSQL refuses NUL in a parameter
    journal = journal_entries(
        direction=direction, status_group=status_group, channel=channel, date_from=date_from, date_to=date_to,
        query=query, received=may_read_replies(request.user),
    )
    page = Paginator(journal, 50).get_page(request.GET.get("page"))
    counts = message_status_counts(date_from=date_from, date_to=date_to)
    summary = [(MessageStatus(value).label, counts.get(value, 0), value) for value in MessageStatus.values]
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "messaging/journal/index.html",
        {
            "page": page,
            "summary": summary,
            "to_check": counts.get("failed", 0) + counts.get("unknown", 0),
            "mailings": recent_mailings(),
            "filters": {"etat": status_group, "canal": channel, "q": query, "sens": direction,
                        "du": f"{date_from:%d/%m/%Y}", "au": f"{date_to:%d/%m/%Y}"},
            "filter_fields": [
                date_field("du", _("Du"), f"{date_from:%d/%m/%Y}"),
                date_field("au", _("Au"), f"{date_to:%d/%m/%Y}"),
                *([FilterField("sens", _("Sens"), direction, choices=list(DIRECTIONS.items()))]
                  if may_read_replies(request.user) else []),
                FilterField("etat", _("État"), status_group,
                            choices=[(key, label) for key, (label, _group) in STATUS_GROUPS.items()]),
                FilterField("canal", _("Canal"), channel, choices=Channel.choices, blank=_("Tous")),
                FilterField("q", _("Destinataire ou expéditeur"), query, search=True,
                            placeholder=_("Nom, numéro, email, dossier")),
            ],
            "query_string": params.urlencode(),
            "errors": errors,
            "demo_inbox": configured_name() == "sandbox",
        },
    )
