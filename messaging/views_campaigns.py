"""Campaign pages: a new campaign (message, list from paste / CSV / patients / staff / all
patients), its check page (what was refused and why, before anything leaves), sending now or
later, and the history. Thin: messaging.campaigns does the work."""

from __future__ import annotations

import datetime as dt
from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_POST

from patients.models import Patient, Practitioner
from patients.selection import SEARCH_PATIENTS, selection_get, selection_ids
from practice.uploads import upload_forget, upload_keep, upload_kept
from practice.validators import validate_header_text

from . import campaigns as svc
from .campaign_checks import check_forget, check_stored, check_version, list_figures
from .html import clean_html
from .mass_mailing import mailing_progress
from .merge import unknown_codes
from .models import Campaign, CampaignKind, CampaignStatus, Channel, EmailAccount, SavedMessage
from .views_mass import sms_counter_context

REACH_PAGE = 50  # recipients shown per page of the campaign's check


CSV_PURPOSE = "campagne-csv"


def _sender(view):
    @login_required
    @permission_required("practice.send_messages", raise_exception=True)
    @wraps(view)
    def wrapper(*args, **kwargs):
        return view(*args, **kwargs)

    return wrapper


class CampaignForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Nom de la campagne"), max_length=120, required=False,
                           help_text=gettext_lazy("Par défaut : la date et l'heure de création (ce n'est pas l'heure d'envoi)."))
    channel = forms.ChoiceField(label=gettext_lazy("Canal"), choices=Channel.choices[:2], widget=forms.RadioSelect)
    kind = forms.ChoiceField(label=gettext_lazy("Type"), choices=CampaignKind.choices, widget=forms.RadioSelect,
                             help_text=gettext_lazy("Actualités : seulement aux patients qui les ont acceptées."))
    account = forms.ModelChoiceField(label=gettext_lazy("Compte d'envoi (email)"), queryset=EmailAccount.objects.filter(active=True),
                                     required=False)
    subject = forms.CharField(label=gettext_lazy("Objet (email)"), max_length=255, required=False, validators=[validate_header_text])
    body = forms.CharField(label=gettext_lazy("Message"), widget=forms.Textarea(attrs={"rows": 6}))
    save_as = forms.CharField(label=gettext_lazy("Enregistrer ce message sous le nom"), max_length=120, required=False)
    pasted = forms.CharField(label=gettext_lazy("Numéros ou adresses (séparés par des virgules, points-virgules ou retours à la ligne)"),
                             widget=forms.Textarea(attrs={"rows": 4}), required=False)
    csv_file = forms.FileField(label=gettext_lazy("Importer un fichier CSV (en-tête : nom ; prénom ; portable ; email)"),
                               required=False)
    staff_users = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Personnel (email)"), queryset=get_user_model().objects.filter(is_active=True).exclude(email=""),
        required=False, widget=forms.CheckboxSelectMultiple)
    practitioners = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Praticiens"), queryset=Practitioner.objects.filter(active=True), required=False,
        widget=forms.CheckboxSelectMultiple)
    all_patients = forms.BooleanField(label=gettext_lazy("Ajouter tous les patients"), required=False)
    patient_ids = forms.CharField(widget=forms.HiddenInput, required=False)
    # The CSV file chosen before a form error, kept on the server (practice.uploads.upload_keep).
    csv_kept = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():  # Bootstrap classes: the page renders fields one by one
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput | forms.CheckboxSelectMultiple | forms.RadioSelect):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, forms.Select):
                widget.attrs.setdefault("class", "form-select")
            elif not isinstance(widget, forms.HiddenInput):
                widget.attrs.setdefault("class", "form-control")

    def clean_patient_ids(self) -> list[int]:
        return [int(i) for i in self.cleaned_data["patient_ids"].split(",") if i.strip().isascii() and i.strip().isdigit()]

    def clean(self):
        data = super().clean()
        channel, body = data.get("channel"), data.get("body") or ""
        if channel == Channel.EMAIL:
            data["body"] = body = clean_html(body.replace("\n", "<br>") if "<" not in body else body)
            if not data.get("subject"):
                self.add_error("subject", gettext_lazy("L'objet est vide."))
            if not data.get("account"):
                self.add_error("account", gettext_lazy("Choisissez le compte d'envoi."))
        for problem in unknown_codes(body + " " + (data.get("subject") or "")):
            self.add_error("body", problem.message())
        sources = (data.get("pasted"), data.get("csv_file") or data.get("csv_kept"), data.get("patient_ids"),
                   data.get("staff_users"),
                   data.get("practitioners"), data.get("all_patients"))
        if not any(sources):
            raise forms.ValidationError(gettext_lazy("Indiquez au moins un destinataire (liste, fichier, patients, personnel ou tous les patients)."))
        return data


@_sender
def campaign_create(request):
    initial = {"channel": Channel.SMS, "kind": CampaignKind.CARE,
               "name": gettext("Campagne du %(when)s") % {
                   "when": date_format(timezone.localtime(), gettext("d/m/Y H\\hi"))}}
    saved = SavedMessage.objects.filter(pk=request.GET.get("message")).first() if request.GET.get("message", "").isdigit() else None
    if saved is not None:
        initial.update(channel=saved.channel, body=saved.body, subject=saved.subject)
    kept = None
    if request.method == "POST" and "channel" in request.POST:
        # A file chosen now replaces the one kept from a previous attempt; a token this session
        # did not keep names nothing.
        kept = None if request.FILES.get("csv_file") else upload_kept(
            session=request.session, purpose=CSV_PURPOSE, token=request.POST.get("csv_kept", ""))
        data = request.POST.copy()
        data["csv_kept"] = kept["token"] if kept else ""
        form = CampaignForm(data, request.FILES)
        if form.is_valid():
            d = form.cleaned_data
            upload = d.get("csv_file")
            csv_file = upload.file if upload else (default_storage.open(kept["path"], "rb") if kept else None)
            try:
                campaign, _ = svc.campaign_create(
                    name=d["name"], channel=d["channel"], kind=d["kind"], body=d["body"],
                    subject=d.get("subject") or "", account=d.get("account"), created_by=request.user,
                    pasted=d.get("pasted") or "", csv_file=csv_file, patient_ids=d["patient_ids"],
                    staff_user_ids=[u.pk for u in d.get("staff_users") or []],
                    practitioner_ids=[p.pk for p in d.get("practitioners") or []],
                    all_patients=bool(d.get("all_patients")),
                )
            finally:
                if kept is not None:
                    csv_file.close()
            upload_forget(session=request.session, purpose=CSV_PURPOSE)
            if d.get("save_as"):
                svc.saved_message_save(name=d["save_as"], channel=d["channel"], body=d["body"],
                                       subject=d.get("subject") or "", created_by=request.user)
            return redirect("campaigns:detail", pk=campaign.pk)
        if request.FILES.get("csv_file"):
            # The form comes back with an error: the file stays chosen (a browser cannot
            # pre-fill a file field), kept on the server until the campaign is created.
            upload = request.FILES["csv_file"]
            token = upload_keep(upload, session=request.session, purpose=CSV_PURPOSE)
            kept = upload_kept(session=request.session, purpose=CSV_PURPOSE, token=token)
        data = form.data.copy()
        data["csv_kept"] = kept["token"] if kept else ""
        form.data = data
    else:
        # Coming from the patient search: the patients of its selection (kept on the server,
        # every row of the search however many) are the list, in one hidden field.
        ids = [i for i in request.POST.getlist("patient_ids") if i.isascii() and i.isdigit()]  # not "²"
        if request.POST.get("selection"):
            found = selection_get(key=request.POST["selection"], user=request.user)
            if found is None or found.search != SEARCH_PATIENTS:
                messages.error(request, gettext_lazy("Cette sélection a expiré : relancez la recherche."))
            else:
                ids = [str(i) for i in selection_ids(found)]
        accounts = list(EmailAccount.objects.filter(active=True).values_list("pk", flat=True)[:2])
        if len(accounts) == 1:
            initial["account"] = accounts[0]  # the only active account: nothing to choose
        form = CampaignForm(initial={**initial, "patient_ids": ",".join(ids)})
    ids = [int(i) for i in (form["patient_ids"].value() or "").split(",") if str(i).strip().isascii() and str(i).strip().isdigit()]
    return render(request, "messaging/campaigns/form.html", {
        "form": form,
        "csv_kept": kept,
        "saved_messages": SavedMessage.objects.all(),
        "selected_patients": Patient.objects.filter(pk__in=ids).order_by("last_name", "first_name")[:50],
        "selected_count": len(ids),
        **sms_counter_context(),
    })


@_sender
def campaign_detail(request, pk):
    campaign = get_object_or_404(Campaign.objects.select_related("mailing", "account"), pk=pk)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "recheck":
            # Patients' files, consents or STOP replies changed since the check: merge again.
            check_forget(campaign)
            page = request.POST.get("page", "")
            return redirect(reverse("campaigns:detail", args=[campaign.pk]) + (f"?page={page}" if page.isdigit() else ""))
        seen = request.POST.get("checked", "")
        if action in ("send", "schedule") and seen and seen != check_version(campaign, figures=list_figures(campaign)):
            # The campaign, its settings or its list changed since the check staff read (the
            # version the page posts back): nothing leaves on it; the page shows the new one.
            messages.error(request, gettext(
                "La campagne a changé depuis la vérification affichée (liste, texte ou réglages) : rien n'a été "
                "envoyé ni programmé. Relisez la vérification ci-dessous, puis recommencez."))
            return redirect("campaigns:detail", pk=campaign.pk)
        # "Envoyer malgré les données manquantes": staff's explicit choice, kept with the campaign.
        keep_missing = request.POST.get("keep_missing") == "1"
        try:
            if action == "send":
                campaign = svc.campaign_send(campaign=campaign, requested_by=request.user, keep_missing=keep_missing)
                messages.success(request, gettext_lazy("La campagne est partie : suivez les envois ci-dessous."))
            elif action == "schedule":
                raw = request.POST.get("scheduled_at", "")
                try:
                    naive = dt.datetime.fromisoformat(raw)
                except ValueError:
                    raise ValueError(gettext_lazy("Date et heure d'envoi invalides.")) from None
                # The page's field sends a local time; a time with its offset (typed, a script) is
                # taken as it is rather than refused by make_aware in English.
                when = naive if naive.tzinfo is not None else timezone.make_aware(naive)
                campaign = svc.campaign_schedule(campaign=campaign, when=when, keep_missing=keep_missing)
                messages.success(request, gettext_lazy("Campagne programmée pour le %(when)s.") % {
                    "when": date_format(timezone.localtime(campaign.scheduled_at), gettext_lazy("d/m/Y à H\\hi"))})
        except ValueError as exc:
            messages.error(request, str(exc))
        return redirect("campaigns:detail", pk=campaign.pk)
    progress = mailing_progress(mailing=campaign.mailing) if campaign.mailing_id else None
    sample = list(campaign.recipients.order_by("pk")[:20])
    figures = list_figures(campaign)
    can_send = campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)
    # Before anything leaves: each recipient's message as it would be sent now, who receives
    # nothing and why, the messages left out for missing data, and what the SMS would cost.
    # Merged once per version of the campaign; each page reads its stored lines.
    check = check_stored(campaign, figures=figures) if can_send else None
    preview = check.summary if check else None
    return render(request, "messaging/campaigns/detail.html", {
        "campaign": campaign, "report": campaign.import_report, "progress": progress,
        "list_size": figures[0], "sample": sample,
        "can_send": can_send, "preview": preview, "checked_at": check.checked_at if check else None,
        "lines": Paginator(check.lines, REACH_PAGE).get_page(request.GET.get("page")) if check else None,
        "estimate": preview.estimate if preview else None,
        "missing_lines": check.missing_lines(limit=REACH_PAGE) if check else [],
        "missing_more": max(0, preview.missing_count - REACH_PAGE) if preview else 0,
    })


@_sender
@require_POST
def campaign_cancel(request, pk):
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        svc.campaign_cancel(campaign=campaign)
        messages.success(request, gettext_lazy("Campagne annulée."))
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect("campaigns:detail", pk=pk)


@_sender
def campaign_list(request):
    page = Paginator(svc.campaigns_with_figures(), 50).get_page(request.GET.get("page"))
    return render(request, "messaging/campaigns/list.html", {"page": page, "saved_messages": SavedMessage.objects.all()})


@_sender
@require_POST
def saved_message_delete(request, pk):
    SavedMessage.objects.filter(pk=pk).delete()
    messages.success(request, gettext_lazy("Message enregistré supprimé."))
    return redirect("campaigns:list")
