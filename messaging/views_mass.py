"""Mass mailing pages ("Publipostage"): the three steps of the wizard, the progress and the
report, the list of past mass mailings. Thin: messaging.mass_mailing does the work."""

from __future__ import annotations

from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_POST

from patients.selection import selection_get, selection_ids
from patients.selectors import patient_search
from practice.validators import header_text_problem
from scheduler.selectors import scheduler_health

from . import mass_drafts
from . import mass_mailing as mm
from .forms import rich_text_widget
from .html import clean_editor_html, clean_html
from .merge import unknown_codes
from .models import Channel, EmailAccount, EmailTemplate, Mailing, Signature, SmsTemplate, TemplateCategory
from .sms import too_long_message as sms_too_long

PREVIEW_PAGE = 100
MISSING_LISTED = 100  # the lines with missing data listed apart above the table (all are in it)


def _sender(view):
    @login_required
    @permission_required("practice.send_messages", raise_exception=True)
    @wraps(view)
    def wrapper(*args, **kwargs):
        return view(*args, **kwargs)

    return wrapper


def _load(request, key: str) -> mm.MassDraft:
    draft = mass_drafts.draft_load(key=key, user=request.user)
    if draft is None:
        raise Http404("Ce publipostage n'existe plus : relancez-le depuis la recherche.")
    return draft


def _save(request, draft: mm.MassDraft) -> None:
    mass_drafts.draft_save(user=request.user, draft=draft)


def _is_id(value: str) -> bool:
    """Whether a posted value is an id a row can have: ASCII digits ("²" is a digit to
    str.isdigit, not to int()) that fit a bigint."""
    return value.isascii() and value.isdigit() and len(value) < 19


def _posted_id(request, name: str) -> int | None:
    value = request.POST.get(name, "")
    return int(value) if _is_id(value) else None


@_sender
@require_POST
def start(request):
    """A new wizard for the rows selected in a search: its server-side selection (``selection``,
    every row of the search however many) or, for a short list, the ids ``ids``."""
    search = request.POST.get("search", "")
    selection = None
    if request.POST.get("selection"):
        selection = selection_get(key=request.POST["selection"], user=request.user)
        if selection is None:
            messages.error(request, gettext_lazy("Cette sélection a expiré : relancez la recherche."))
            return redirect(request.META.get("HTTP_REFERER") or "search:appointments")
        search = selection.search
        ids = selection_ids(selection)
    else:
        ids = [int(i) for i in request.POST.getlist("ids") if _is_id(i)]
    if not ids:
        messages.error(request, gettext_lazy("Cochez au moins une ligne avant de lancer un publipostage."))
        return redirect(request.META.get("HTTP_REFERER") or "search:appointments")
    try:
        draft = mm.draft_start(search=search, channel=request.POST.get("channel", ""), ids=ids)
    except ValueError as exc:
        raise Http404(str(exc)) from exc
    mass_drafts.draft_create(user=request.user, draft=draft)
    return redirect("mass:message", key=draft.key)


def sms_counter_context() -> dict:
    """What messaging/sms_counter.js reads from the page (the same as the sending pages)."""
    from django.urls import reverse

    from practice.models import Practice

    from .views_settings import gsm_tables

    return {
        "counter_config": {"warn_over_160": Practice.get().sms_warn_over_160, "to_gsm_url": reverse("messaging:sms_to_gsm")},
        "gsm_tables": gsm_tables(),
    }


def _catalog(channel: str) -> list[dict]:
    """Categories with their active templates for the category -> template picker. A letter
    starts from an email type's text."""
    out = []
    for category in TemplateCategory.objects.order_by("position", "name").prefetch_related("sms_templates", "email_templates"):
        if channel == Channel.SMS:
            items = [(t.pk, t.title) for t in category.sms_templates.all() if t.active]
        else:
            items = [(t.pk, t.label) for t in category.email_templates.all() if t.active]
        if items:
            out.append({"name": category.name, "templates": items})
    return out


class MassEmailBodyForm(forms.Form):
    """The email body of a mass mailing, in the same rich-text editor as the email types."""

    body = forms.CharField(label=gettext_lazy("Message"), widget=rich_text_widget(height=320))


def _default_account_id() -> int | None:
    """The only (or first, by name) active account, so staff never start from "—"."""
    return EmailAccount.objects.filter(active=True).order_by("name").values_list("pk", flat=True).first()


@_sender
def message(request, key):
    """Step 1: the template (category then template) or a message typed here, then edited."""
    draft = _load(request, key)
    errors: list[str] = []
    if request.method == "POST":
        if request.POST.get("template"):
            model = SmsTemplate if draft.channel == Channel.SMS else EmailTemplate
            template = model.objects.filter(pk=request.POST["template"], active=True).first()
            if template is not None:
                mm.draft_apply_template(draft, template)
                _save(request, draft)
            return redirect("mass:message", key=key)
        draft.body = request.POST.get("body", "")
        if draft.channel == Channel.EMAIL:
            draft.body = clean_editor_html(draft.body)
            subject = request.POST.get("subject", "")
            if problem := header_text_problem(subject.strip()):
                errors.append(gettext("Objet : %(problem)s") % {"problem": problem})
            draft.subject = " ".join(subject.split())
            draft.account_id = _posted_id(request, "account")
            draft.signature_id = _posted_id(request, "signature")
            if not draft.subject:
                errors.append(gettext("L'objet est vide."))
            if draft.account_id is None:
                errors.append(gettext("Choisissez le compte d'envoi."))
        if draft.channel == Channel.SMS:
            # "Envoyer par email si pas de portable": the email type stands in for the SMS.
            chosen = request.POST.get("no_mobile_template", "")
            draft.no_mobile_template_id = None
            if request.POST.get("email_if_no_mobile") == "1":
                found = EmailTemplate.objects.filter(pk=chosen, active=True).first() if _is_id(chosen) else None
                if found is None:
                    errors.append(gettext("Choisissez l'email type envoyé aux patients sans portable."))
                else:
                    draft.no_mobile_template_id = found.pk
        if not draft.body.strip():
            errors.append(gettext("Le message est vide."))
        if draft.channel == Channel.SMS and (too_long := sms_too_long(draft.body.replace("\r\n", "\n"))):
            errors.append(too_long)
        errors += [u.message() for u in unknown_codes(draft.body + " " + draft.subject)]
        _save(request, draft)
        if not errors:
            return redirect("mass:recipients", key=key)
    default_account = draft.account_id or _default_account_id()
    body_form = MassEmailBodyForm(initial={"body": clean_html(draft.body)}) if draft.channel == Channel.EMAIL else None
    return render(request, "messaging/mass/step_message.html", {
        "draft": draft,
        "body_form": body_form,
        "default_account_id": default_account,
        "catalog": _catalog(draft.channel),
        "accounts": EmailAccount.objects.filter(active=True),
        "signatures": Signature.objects.all(),
        "errors": errors,
        "search_label": mm.SEARCH_LABELS[draft.search],
        "selected_template": draft.sms_template_id if draft.channel == Channel.SMS else draft.email_template_id,
        "email_templates": EmailTemplate.objects.filter(active=True).order_by("label") if draft.channel == Channel.SMS else [],
        **(sms_counter_context() if draft.channel == Channel.SMS else {}),
    })


@_sender
def recipients(request, key):
    """Step 2: who receives what (the exact merged message, its SMS count, the warnings) and the
    summary; add and remove recipients."""
    draft = _load(request, key)
    if request.method == "POST":
        if (appointment_id := _posted_id(request, "remove_appointment")) is not None:
            draft.remove(appointment_id=appointment_id)
        if (patient_id := _posted_id(request, "remove_patient")) is not None:
            draft.remove(patient_id=patient_id)
        if (patient_id := _posted_id(request, "add_patient")) is not None:
            draft.add_patient(patient_id)
        _save(request, draft)
        if request.POST.get("refresh") == "1":
            # Patients' files or earlier messages changed since the merge: merge again.
            mass_drafts.preview_forget(key=key, user=request.user)
        return redirect(f"{request.path}?page={request.POST.get('page', '1')}")
    # Merged once per change of the draft; each page reads its stored lines.
    preview = mass_drafts.preview_stored(key=key, user=request.user)
    page = Paginator(preview.lines, PREVIEW_PAGE).get_page(request.GET.get("page"))
    query = request.GET.get("q", "").strip()
    candidates = list(patient_search(query=query)[:10]) if query else []
    missing, missing_count = preview.lines.with_missing(limit=MISSING_LISTED)
    return render(request, "messaging/mass/step_recipients.html", {
        "draft": draft, "summary": preview.summary, "merged_at": preview.merged_at, "page": page, "query": query,
        "candidates": candidates, "search_label": mm.SEARCH_LABELS[draft.search],
        "missing_lines": missing, "missing_more": max(0, missing_count - len(missing)),
    })


@_sender
@require_POST
def send(request, key):
    """Step 3: one mailing per wizard, whatever the number of clicks."""
    draft = _load(request, key)
    # "Envoyer aussi aux rendez-vous déjà servis": the purpose rule's explicit exception.
    draft.send_again = request.POST.get("send_again") == "1"
    # "Envoyer aussi les messages aux données manquantes": staff's explicit choice; otherwise
    # they are left out (recorded "non envoyé" with the missing fields).
    draft.keep_missing = request.POST.get("keep_missing") == "1"
    try:
        mailing = mm.mass_mailing_send(draft=draft, requested_by=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("mass:recipients", key=key)
    draft.mailing_id = mailing.pk
    _save(request, draft)
    mass_drafts.preview_forget(key=key, user=request.user)  # the report takes over
    return redirect("mass:detail", pk=mailing.pk)


@_sender
def letters(request, key):
    draft = _load(request, key)
    draft.keep_missing = request.GET.get("donnees_manquantes") == "1"  # as "Envoyer" (see send)
    try:
        pdf, _ = mm.mass_letters_pdf(draft=draft, printed_by=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("mass:recipients", key=key)
    template = EmailTemplate.objects.filter(pk=draft.email_template_id).first() if draft.email_template_id else None
    mm.search_default_remember(search=draft.search, channel=Channel.LETTER, template=template)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="courriers-{timezone.localdate():%Y-%m-%d}.pdf"'
    return response


@_sender
def detail(request, pk):
    """Progress while the messages leave (the page polls ``status``), then the report."""
    mailing = get_object_or_404(Mailing.objects.select_related("requested_by"), pk=pk)
    progress = mm.mailing_progress(mailing=mailing)
    report = mm.mailing_report(mailing=mailing) if progress.done or progress.deferred_until else None
    # A mailing that stays "en cours" because no cluster is running must say so here.
    health = None if progress.done else scheduler_health()
    return render(
        request, "messaging/mass/detail.html",
        {"mailing": mailing, "progress": progress, "report": report, "health": health,
         "unknown_warning": mm.UNKNOWN_RETRY_WARNING},
    )


@_sender
def status(request, pk):
    mailing = get_object_or_404(Mailing, pk=pk)
    return JsonResponse(mm.mailing_progress(mailing=mailing).as_json())


@_sender
@require_POST
def retry(request, pk):
    mailing = get_object_or_404(Mailing, pk=pk)
    try:
        again = mm.mailing_retry_failures(mailing=mailing, requested_by=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("mass:detail", pk=pk)
    return redirect("mass:detail", pk=again.pk)


@_sender
@require_POST
def retry_unknown(request, pk):
    mailing = get_object_or_404(Mailing, pk=pk)
    try:
        again = mm.mailing_retry_unknown(mailing=mailing, requested_by=request.user,
                                         confirmed=request.POST.get("confirm") == "1")
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("mass:detail", pk=pk)
    return redirect("mass:detail", pk=again.pk)


@_sender
def mailing_list(request):
    page = Paginator(mm.mass_mailings(), 50).get_page(request.GET.get("page"))
    return render(request, "messaging/mass/list.html", {"page": page})
