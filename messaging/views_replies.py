"""The "Réponses" page: SMS patients sent back, to read, answer and mark handled; and the demo
inbox's "Répondre en tant que patient". Thin: the logic is in ``messaging.inbox``.

Who may do what (docs/sending.md, "Réponses des patients"): reading the replies needs the right
to send messages and to view received SMS (what patients write is part of their file); marking
one handled needs the right to change received SMS; answering is sending an SMS.
"""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from messaging import inbox
from messaging.cost import price_per_part
from messaging.filter_bar import FilterField, date_field
from messaging.gateways import configured_name
from messaging.merge import validate_merge_text
from messaging.models import Channel, InboundMessage, Message
from messaging.sms import too_long_message as sms_too_long
from messaging.views_settings import gsm_tables
from practice.models import Practice

SEND_PERM = "practice.send_messages"
VIEW_PERM = "messaging.view_inboundmessage"
HANDLE_PERM = "messaging.change_inboundmessage"


def may_read_replies(user) -> bool:
    """Whether ``user`` sees the "Réponses" page and its count in the menu."""
    return user.is_authenticated and user.has_perm(SEND_PERM) and user.has_perm(VIEW_PERM)


def _readers_only(view):
    def wrapped(request, *args, **kwargs):
        if not may_read_replies(request.user):
            raise PermissionDenied(_("Vous n'avez pas accès aux réponses des patients."))
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return login_required(wrapped)


def filter_date(value: str) -> dt.date | None:
    """A date typed in a period filter (jj/mm/aaaa, or aaaa-mm-jj), None when it is not one. Years
    outside 1900-2100 are refused: nothing the practice sent or received lies there, and the day
    after 31/12/9999 cannot be computed (it was a 500)."""
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            day = dt.datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
        return day if 1900 <= day.year <= 2100 else None
    return None


@_readers_only
def replies_index(request):
    """The list, filtered: still to handle (default) or all, period, patient, text."""
    errors = []
    state = request.GET.get("etat", inbox.STATE_TO_HANDLE)
    if state not in inbox.STATES:
        state = inbox.STATE_TO_HANDLE
    raw_from, raw_to = request.GET.get("du", "").strip(), request.GET.get("au", "").strip()
    date_from = filter_date(raw_from) if raw_from else None
    date_to = filter_date(raw_to) if raw_to else None
    if (raw_from and date_from is None) or (raw_to and date_to is None):
        errors.append(gettext("Date invalide : utilisez le format jj/mm/aaaa. Cette borne de la période est ignorée."))
    if date_from and date_to and date_from > date_to:
        errors.append(gettext("La date de début est après la date de fin : les dates ont été inversées."))
        date_from, date_to = date_to, date_from
    # NUL removed: PostgreSQL refuses it in a parameter (it was a 500).
    patient = request.GET.get("patient", "").replace("\x00", "")[:100]
    text = request.GET.get("texte", "").replace("\x00", "")[:200]
    found = inbox.reply_list(state=state, date_from=date_from, date_to=date_to, patient=patient, text=text)
    page = Paginator(found, 50).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(request, "messaging/replies/index.html", {
        "page": page,
        "rows": inbox.describe(page.object_list),
        "filters": {"etat": state},
        "filter_id": "replies-filters",
        "filter_fields": [
            FilterField("etat", _("Afficher"), state, choices=list(inbox.STATES.items())),
            date_field("du", _("Reçues du"), f"{date_from:%d/%m/%Y}" if date_from else ""),
            date_field("au", _("au"), f"{date_to:%d/%m/%Y}" if date_to else ""),
            FilterField("patient", _("Patient"), patient, search=True, placeholder=_("Nom, dossier, numéro")),
            FilterField("texte", _("Texte"), text, search=True, placeholder=_("Mot du message")),
        ],
        "query_string": params.urlencode(),
        "errors": errors,
        "may_handle": request.user.has_perm(HANDLE_PERM),
        "next": request.get_full_path(),
    })


class ReplyForm(forms.Form):
    body = forms.CharField(label=_("Votre réponse"), widget=forms.Textarea(attrs={"rows": 5}),
                           error_messages={"required": _("Le message est vide.")})
    mark_handled = forms.BooleanField(required=False, initial=True, label=_("Marquer cette réponse comme traitée"))
    token = forms.CharField(widget=forms.HiddenInput)

    def clean_body(self):
        # As the send window (messaging.views_sending.SmsForm): the gateway's limit, and merge
        # codes checked (a mistyped "@PNOMM" would leave half-merged).
        body = self.cleaned_data["body"].replace("\r\n", "\n").replace("\r", "\n")
        if not body.strip():
            raise forms.ValidationError(_("Le message est vide."))
        too_long = sms_too_long(body)
        if too_long:
            raise forms.ValidationError(too_long)
        validate_merge_text(body)
        return body


def _conversation(number: str, *, limit: int = 30) -> list[dict]:
    """The last SMS exchanged with ``number`` (sent and received), oldest first."""
    sent = Message.objects.filter(channel=Channel.SMS, to=number, hidden=False).select_related("mailing")
    received = InboundMessage.objects.filter(from_number=number)
    entries = [{"at": m.created_at, "sent": m} for m in sent.order_by("-created_at", "-id")[:limit]]
    entries += [{"at": i.received_at, "received": i} for i in received.order_by("-received_at", "-id")[:limit]]
    entries.sort(key=lambda e: e["at"])
    return entries[-limit:]


@_readers_only
def reply_detail(request, pk):
    """One reply: who sent it, what it answers, the conversation with that number, the answer
    form (through the outbox, with the SMS counter) and its handled state."""
    found = inbox.with_context(inbox.answerable().filter(pk=pk)).first()
    if found is None:
        raise Http404("Réponse introuvable.")
    row = inbox.describe([found])[0]
    recipient = inbox.reply_recipient(found)
    appointments = []
    if row.matched:
        from messaging.replies import appointments_answered_by

        # What the answer is about, with the mark it left (confirmed, cancellation requested):
        # staff cancel or move a cancellation request themselves, from the planning.
        appointments = [
            {"appointment": a, "planning": f"{reverse('patients:planning')}?jour={timezone.localdate(a.start).isoformat()}"}
            for a in appointments_answered_by(row.answered)
        ]
    if request.method == "POST":
        form = ReplyForm(request.POST)
        if form.is_valid():
            try:
                mailing = inbox.reply_send(inbound=found, body=form.cleaned_data["body"], user=request.user,
                                           token=form.cleaned_data["token"])
            except ValueError as exc:
                form.add_error(None, str(exc))
            else:
                message = mailing.messages.first()
                status = str(message.get_status_display()).lower()
                if message.reason:
                    status = gettext("%(status)s (%(reason)s)") % {"status": status, "reason": message.reason_shown}
                if form.cleaned_data["mark_handled"] and request.user.has_perm(HANDLE_PERM):
                    inbox.reply_mark_handled(inbound=found, user=request.user)
                    text = gettext("Réponse enregistrée pour %(name)s : %(status)s. La réponse reçue est marquée traitée.")
                else:
                    text = gettext("Réponse enregistrée pour %(name)s : %(status)s.")
                messages.success(request, text % {"name": recipient.name, "status": status})
                return redirect("sending:reply", pk=found.pk)
    else:
        form = ReplyForm(initial={"token": uuid.uuid4().hex, "mark_handled": True})
    price = price_per_part()
    return render(request, "messaging/replies/detail.html", {
        "row": row,
        "inbound": found,
        "recipient": recipient,
        "appointments": appointments,
        "form": form,
        "conversation": _conversation(found.from_number),
        "may_handle": request.user.has_perm(HANDLE_PERM),
        "counter_config": {"warn_over_160": Practice.get().sms_warn_over_160,
                           "to_gsm_url": reverse("messaging:sms_to_gsm"),
                           "price": None if price is None else str(price)},
        "gsm_tables": gsm_tables(),
    })


def _handled_view(request, pk, *, handled: bool):
    if not request.user.has_perm(HANDLE_PERM):
        raise PermissionDenied(_("Vous n'avez pas le droit de marquer une réponse comme traitée."))
    found = get_object_or_404(inbox.answerable().select_related("handled_by"), pk=pk)
    if handled:
        if inbox.reply_mark_handled(inbound=found, user=request.user):
            messages.success(request, _("Réponse marquée traitée."))
        else:
            who = found.handled_by.get_full_name() or found.handled_by.username if found.handled_by else "quelqu'un"
            messages.info(request, _("Cette réponse était déjà traitée (par %(who)s).") % {"who": who})
    else:
        inbox.reply_mark_unhandled(inbound=found)
        messages.success(request, _("Réponse remise dans les réponses à traiter."))
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect("sending:reply", pk=found.pk)


@_readers_only
@require_POST
def reply_handled(request, pk):
    return _handled_view(request, pk, handled=True)


@_readers_only
@require_POST
def reply_unhandled(request, pk):
    return _handled_view(request, pk, handled=False)


# ---------------------------------------------------------------------------------------------
# The demo: answer as the patient
# ---------------------------------------------------------------------------------------------


class DemoReplyForm(forms.Form):
    numero = forms.CharField(max_length=32)
    body = forms.CharField(max_length=1600, error_messages={"required": _("Écrivez la réponse du patient."),
                                                            "max_length": _("Une réponse SMS ne dépasse pas "
                                                                            "1 600 caractères.")})


@login_required
@require_POST
def demo_reply(request):
    """The demo inbox's "Répondre en tant que patient": the text is received by the practice
    exactly as a gateway's webhook would hand it over (``messaging.webhooks.record_inbound``,
    with an id of its own), so the demo shows what a real reply does. Only with the demo's
    ``sandbox`` gateway, for staff who may send."""
    from messaging.webhooks import record_inbound

    if configured_name() != "sandbox":
        raise Http404("Réservé à la démonstration (passerelle SMS « sandbox »).")
    if not request.user.has_perm(SEND_PERM):
        raise PermissionDenied(_("Vous n'avez pas le droit d'envoyer des messages."))
    form = DemoReplyForm(request.POST)
    numero = request.POST.get("numero", "")
    back = f"{reverse('sending:demo-inbox')}?{urlencode({'onglet': 'sms', 'numero': numero})}"
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    from messaging.models import SandboxSms

    number = form.cleaned_data["numero"]
    last = SandboxSms.objects.filter(to=number).order_by("-created_at", "-id").first()
    if last is None:
        messages.error(request, _("Aucun SMS n'a été envoyé à ce numéro dans la démonstration."))
        return redirect(back)
    record_inbound(provider_id=f"demo-{uuid.uuid4().hex}", from_number=number, to_number=last.sender,
                   body=form.cleaned_data["body"])
    messages.success(request, _("Réponse reçue par le cabinet, comme par la passerelle SMS."))
    return redirect(back)


def replies_menu_count(user) -> int | None:
    """The number of replies to handle shown in the menu, or None when ``user`` may not read
    them. One query."""
    if not may_read_replies(user):
        return None
    return inbox.to_handle_count()

