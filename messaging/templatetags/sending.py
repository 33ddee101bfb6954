"""Template helpers of the sending pages: message state badges and the communication history
block that the patient file includes (``{% communication_history patient %}``)."""

from __future__ import annotations

from django import template

from messaging.models import MessageStatus
from messaging.selectors_sending import patient_history_entries

register = template.Library()

_CSS = {
    MessageStatus.PENDING: "warning",
    MessageStatus.SENDING: "info",
    MessageStatus.SENT: "primary",
    MessageStatus.DELIVERED: "success",
    MessageStatus.FAILED: "danger",
    MessageStatus.CANCELLED: "secondary",
    MessageStatus.UNKNOWN: "dark",
    MessageStatus.SKIPPED: "secondary",
}


@register.filter
def state_label(message) -> str:
    """ "En attente (quota)", "Envoyé", "Incertain"...: what staff read."""
    if message.status == MessageStatus.PENDING:
        if message.error_code == "quota":
            return "En attente (quota)"
        if message.error_code == "quiet":
            return "En attente (heures de silence)"
        if message.error_code == "paused":
            return "En attente (compte en pause)"
        if message.attempts:
            return "En attente (nouvel essai)"
    return message.get_status_display()


@register.filter
def send_now_text(message) -> str:
    """Who asked to send ``message`` at once during the quiet hours, and when ("" if nobody)."""
    if message.send_now_at is None:
        return ""
    from django.utils import timezone
    from django.utils.formats import date_format
    from django.utils.translation import gettext

    user = message.send_now_by
    who = (user.get_full_name() or user.username) if user is not None else gettext("un utilisateur supprimé")
    return gettext("Envoi immédiat pendant les heures de silence demandé par %(who)s le %(when)s.") % {
        "who": who, "when": date_format(timezone.localtime(message.send_now_at), gettext("d/m/Y à H\\hi"))}


@register.filter
def held_by_quiet_hours(message) -> bool:
    """Whether ``message`` waits for the end of the quiet hours ("Envoyer maintenant" offered)."""
    return message.status == MessageStatus.PENDING and message.error_code == "quiet" and message.send_now_at is None


@register.filter
def state_css(message) -> str:
    return _CSS.get(message.status, "secondary")


@register.inclusion_tag("messaging/sending/_history.html", takes_context=True)
def communication_history(context, patient, next=""):
    """The history table of ``patient``; actions come back to ``next`` (default: this page)."""
    request = context.get("request")
    return {
        "patient": patient,
        "entries": patient_history_entries(patient=patient),
        "perms": context.get("perms"),
        "csrf_token": context.get("csrf_token"),
        "next": next or (request.get_full_path() if request else ""),
    }



@register.filter
def sanitized(html: str) -> str:
    """Formatted HTML shown as formatting, cleaned again on output (defence in depth: it was
    cleaned on save, but a row written another way must not run a script in a page)."""
    from django.utils.safestring import mark_safe

    from messaging.html import clean_html

    return mark_safe(clean_html(html or ""))  # noqa: S308 - nh3 output


@register.inclusion_tag("messaging/_paused_accounts.html")
def paused_accounts(account=None):
    """The email accounts paused because their server cannot be reached (all, or ``account``):
    staff see why emails wait and that sending resumes by itself."""
    from django.utils import timezone

    from messaging.models import EmailAccount, Message

    paused = EmailAccount.objects.filter(paused_at__isnull=False)
    if account is not None:
        paused = paused.filter(pk=account.pk)
    rows = []
    for a in paused.order_by("name"):
        waiting = Message.objects.filter(account=a, status=MessageStatus.PENDING).count()
        rows.append({"account": a, "waiting": waiting, "since": timezone.localtime(a.paused_at),
                     "probe": timezone.localtime(a.probe_at) if a.probe_at else None})
    return {"paused": rows}
