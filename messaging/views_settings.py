"""The "Paramétrage" pages: categories, SMS and email types, signatures, email accounts, custom
merge fields, the practice's SMS settings, and the preview of any template for a patient.

Views stay thin: permission check, form, service call, redirect. Administrators and practitioners
edit templates (model permissions), assistants read and preview them, and only administrators
(``practice.configure_practice``) reach the email accounts and the practice's SMS settings.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, ProtectedError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from patients.models import Patient
from patients.selectors import patient_search
from practice.models import Practice

from . import merge, services, sms
from .attachments import image_rule_description
from .forms import (
    CategoryForm,
    EmailAccountForm,
    EmailTemplateForm,
    FileAttachmentForm,
    FreeFieldForm,
    ImageAttachmentForm,
    ParticularFieldForm,
    PracticeSmsForm,
    SignatureForm,
    SmsTemplateForm,
)
from .models import (
    AttachmentRule,
    EmailAccount,
    EmailTemplate,
    ExternalFile,
    FreeField,
    ParticularField,
    Signature,
    SmsTemplate,
    TemplateCategory,
)
from .providers import providers_json

CONFIGURE = "practice.configure_practice"


def require(request, *perms: str) -> None:
    """403 (with the project's page) unless the user has every permission in ``perms``."""
    if not request.user.has_perms(perms):
        raise PermissionDenied(_("Cette action est réservée aux rôles qui paramètrent les modèles."))


# Each settings page and the permission its view requires: the views below are decorated with
# these same entries, so the menus (side menu, index, navbar "Paramétrage") show a user exactly
# the pages they can open.
SECTION_PERMS = {
    "sms_list": "messaging.view_smstemplate",
    "email_list": "messaging.view_emailtemplate",
    "categories": "messaging.view_templatecategory",
    "signatures": "messaging.view_signature",
    "custom_fields": "messaging.view_particularfield",
    "accounts": CONFIGURE,
    "sms_settings": CONFIGURE,
}
SECTIONS = [
    ("sms_list", gettext_lazy("SMS types"), gettext_lazy("Messages courts avec champs d'intégration.")),
    ("email_list", gettext_lazy("Emails types"), gettext_lazy("Objet, message mis en forme, pièces jointes.")),
    ("categories", gettext_lazy("Catégories"), gettext_lazy("Dossiers communs aux SMS et emails types.")),
    ("signatures", gettext_lazy("Signatures"), gettext_lazy("En-têtes et signatures des emails.")),
    ("custom_fields", gettext_lazy("Champs personnalisés"), gettext_lazy("Champs particuliers @PART_nn et champs libres @LIBRE_nn.")),
    ("accounts", gettext_lazy("Comptes email"), gettext_lazy("Serveurs d'envoi (SMTP), test de connexion.")),
    ("sms_settings", gettext_lazy("Paramétrage SMS"), gettext_lazy("Nom d'expéditeur, avertissement, destinataires par défaut.")),
]


def settings_sections(user) -> list[dict]:
    """The settings pages this user may open, for the index and the menus."""
    return [
        {"url": reverse(f"messaging:{name}"), "name": name, "label": label, "help": help_text}
        for name, label, help_text in SECTIONS
        if user.has_perm(SECTION_PERMS[name])
    ]


# The side menu highlights the section a page belongs to, found from the URL name's start.
SECTION_PREFIXES = [
    ("sms_settings", "sms_settings"),
    ("sms", "sms_list"),
    ("email", "email_list"),
    ("attachment", "email_list"),
    ("categor", "categories"),
    ("signature", "signatures"),
    ("account", "accounts"),
    ("custom", "custom_fields"),
]


def page(request, template: str, context: dict, status: int = 200):
    url_name = request.resolver_match.url_name if request.resolver_match else ""
    context.setdefault("sections", settings_sections(request.user))
    context.setdefault("current", next((s for p, s in SECTION_PREFIXES if url_name.startswith(p)), ""))
    return render(request, f"messaging/settings/{template}", context, status=status)


def confirm_delete(request, *, obj, kind: str, back: str, on_delete, blocked: str = ""):
    """GET: a confirmation page (saying up front why deletion is refused, when ``blocked``).
    POST: ``on_delete()``; a message either way, back to ``back``."""
    if request.method == "POST":
        try:
            on_delete()
        except (ProtectedError, services.CategoryInUse) as exc:
            message = getattr(exc, "message", None) or (
                _("« %(obj)s » est encore utilisé (%(n)s élément(s)) : il ne peut pas être supprimé.")
                % {"obj": obj, "n": len(exc.protected_objects)}
            )
            messages.error(request, message)
        else:
            messages.success(request, _("%(kind)s « %(obj)s » supprimé.") % {"kind": kind, "obj": obj})
        return redirect(back)
    return page(request, "confirm_delete.html", {"object": obj, "kind": kind, "back": back, "blocked": blocked})


# ---------------------------------------------------------------------------------------------
# Index, merge-field catalog
# ---------------------------------------------------------------------------------------------


@login_required
def settings_index(request):
    counts = {
        "sms_list": SmsTemplate.objects.count(),
        "email_list": EmailTemplate.objects.count(),
        "categories": TemplateCategory.objects.count(),
        "signatures": Signature.objects.count(),
        "custom_fields": ParticularField.objects.count() + FreeField.objects.count(),
        "accounts": EmailAccount.objects.count(),
    }
    sections = settings_sections(request.user)
    if not sections:
        raise PermissionDenied(_("Aucune page de paramétrage n'est ouverte à votre rôle."))
    for section in sections:
        section["count"] = counts.get(section["name"])
    return page(request, "index.html", {"sections": sections})


@login_required
@permission_required("messaging.view_smstemplate", raise_exception=True)
def merge_fields(request):
    """The catalog for the picker, filtered by keyword and category (JSON)."""
    fields = merge.catalog(search=request.GET.get("q", "").strip(), category=request.GET.get("category", ""))
    return JsonResponse(
        {
            "fields": [
                {"code": f.code, "label": f.label, "category": f.category, "category_label": f.category_label}
                for f in fields
            ]
        }
    )


def picker_context() -> dict:
    return {"merge_categories": merge.CATEGORIES}


# ---------------------------------------------------------------------------------------------
# Categories
# ---------------------------------------------------------------------------------------------


@login_required
@permission_required(SECTION_PERMS["categories"], raise_exception=True)
def categories(request):
    form = CategoryForm(request.POST or None)
    if request.method == "POST":
        require(request, "messaging.add_templatecategory")
        if form.is_valid():
            category = form.save()
            messages.success(request, _("Catégorie « %(category)s » créée.") % {"category": category})
            return redirect("messaging:categories")
    # Meta.ordering is ignored by aggregating queries: order explicitly.
    rows = TemplateCategory.objects.annotate(
        n_sms=Count("sms_templates", distinct=True), n_email=Count("email_templates", distinct=True)
    ).order_by("position", "name")
    return page(request, "categories.html", {"form": form, "categories": rows})


@login_required
@permission_required("messaging.change_templatecategory", raise_exception=True)
def category_edit(request, pk: int):
    category = get_object_or_404(TemplateCategory, pk=pk)
    form = CategoryForm(request.POST or None, instance=category)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Catégorie renommée en « %(category)s ».") % {"category": category})
        return redirect("messaging:categories")
    return page(request, "form.html", {"form": form, "title": f"Catégorie « {category} »",
                                       "back": reverse("messaging:categories")})


@login_required
@permission_required("messaging.delete_templatecategory", raise_exception=True)
def category_delete(request, pk: int):
    category = get_object_or_404(TemplateCategory, pk=pk)
    return confirm_delete(request, obj=category, kind="Catégorie", back=reverse("messaging:categories"),
                          on_delete=lambda: services.category_delete(category=category),
                          blocked=services.category_in_use_message(category=category))


# ---------------------------------------------------------------------------------------------
# SMS types and the practice's SMS settings
# ---------------------------------------------------------------------------------------------


@login_required
@permission_required(SECTION_PERMS["sms_list"], raise_exception=True)
def sms_list(request):
    templates = SmsTemplate.objects.select_related("category")
    return page(request, "sms_list.html", {"templates": templates})


@login_required
def sms_edit(request, pk: int | None = None):
    template = get_object_or_404(SmsTemplate, pk=pk) if pk else None
    require(request, "messaging.change_smstemplate" if template else "messaging.add_smstemplate")
    initial = {}
    if template is None and request.GET.get("category"):
        initial["category"] = request.GET["category"]
    form = SmsTemplateForm(request.POST or None, instance=template, initial=initial)
    if request.method == "POST" and form.is_valid():
        template = form.save()
        messages.success(request, _("SMS type « %(template)s » enregistré.") % {"template": template})
        if "preview" in request.POST:
            return redirect("messaging:sms_preview", pk=template.pk)
        return redirect("messaging:sms_list")
    practice = Practice.get()
    return page(
        request,
        "sms_form.html",
        {
            "form": form,
            "template": template,
            "counter_config": {"warn_over_160": practice.sms_warn_over_160, "to_gsm_url": reverse("messaging:sms_to_gsm")},
            "gsm_tables": gsm_tables(),
            "reply_missing": form["asks_reply"].value() and _reply_number_missing(practice),
            **picker_context(),
        },
    )


def _reply_number_missing(practice) -> bool:
    """The configured gateway needs a reply number (Paramétrage SMS) and the practice set none."""
    from .gateways import backend_class

    try:
        backend = backend_class()
    except ImportError:
        return False
    return bool(backend.reply_sender_help) and not (practice.sms_reply_senders or {}).get(backend.name)


def gsm_tables() -> dict:
    """messaging.sms's character tables and limits, for the live counter to count the same way."""
    return {
        "basic": "".join(sorted(sms.GSM7_BASIC)),
        "extension": "".join(sorted(sms.GSM7_EXTENSION)),
        "limits": {
            "gsm_single": sms.GSM7_SINGLE,
            "gsm_multi": sms.GSM7_MULTI,
            "ucs2_single": sms.UCS2_SINGLE,
            "ucs2_multi": sms.UCS2_MULTI,
        },
        "max_chars": sms.max_sms_chars(),
    }


@login_required
@permission_required("messaging.delete_smstemplate", raise_exception=True)
def sms_delete(request, pk: int):
    template = get_object_or_404(SmsTemplate, pk=pk)
    return confirm_delete(request, obj=template, kind="SMS type", back=reverse("messaging:sms_list"),
                          on_delete=template.delete)


@login_required
@permission_required("messaging.view_smstemplate", raise_exception=True)
@require_POST
def sms_to_gsm(request):
    """The one-click replacement: the text with its UCS-2-only characters replaced by their GSM-7
    equivalents (``messaging.sms.to_gsm``, the same table the server uses), and its new count."""
    try:
        text = json.loads(request.body or b"{}").get("text", "")
    except (ValueError, AttributeError):
        return JsonResponse({"error": "Requête invalide."}, status=400)
    if not isinstance(text, str):
        return JsonResponse({"error": "Requête invalide."}, status=400)
    converted = sms.to_gsm(text)
    seg = sms.segments(converted)
    return JsonResponse(
        {"text": converted, "encoding": seg.encoding, "length": seg.length, "parts": seg.parts,
         "ucs2_chars": list(seg.ucs2_chars)}
    )


@login_required
@permission_required(SECTION_PERMS["sms_settings"], raise_exception=True)
def sms_settings(request):
    practice = Practice.objects.get_or_create(pk=1)[0]
    form = PracticeSmsForm(request.POST or None, instance=practice)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Paramétrage SMS enregistré."))
        return redirect("messaging:sms_settings")
    return page(request, "sms_settings.html", {"form": form})


# ---------------------------------------------------------------------------------------------
# Email accounts
# ---------------------------------------------------------------------------------------------


@login_required
@permission_required(SECTION_PERMS["accounts"], raise_exception=True)
def accounts(request):
    rows = EmailAccount.objects.select_related("default_signature")
    return page(request, "accounts.html", {"accounts": rows})


@login_required
@permission_required(CONFIGURE, raise_exception=True)
def account_edit(request, pk: int | None = None):
    account = get_object_or_404(EmailAccount, pk=pk) if pk else None
    form = EmailAccountForm(request.POST or None, instance=account)
    if request.method == "POST" and form.is_valid():
        account = services.email_account_save(form=form)
        if "test" in request.POST:
            return _run_test(request, account)
        messages.success(request, _("Compte « %(account)s » enregistré.") % {"account": account})
        return redirect("messaging:accounts")
    return page(request, "account_form.html",
                {"form": form, "account": account, "providers": providers_json()})


def _run_test(request, account: EmailAccount):
    result = services.email_account_test(account=account)
    (messages.success if result.ok else messages.error)(request, result.message)
    return redirect("messaging:account_edit", pk=account.pk)


@login_required
@permission_required(CONFIGURE, raise_exception=True)
@require_POST
def account_test(request, pk: int):
    return _run_test(request, get_object_or_404(EmailAccount, pk=pk))


@login_required
@permission_required(CONFIGURE, raise_exception=True)
def account_delete(request, pk: int):
    account = get_object_or_404(EmailAccount, pk=pk)
    return confirm_delete(request, obj=account, kind="Compte", back=reverse("messaging:accounts"),
                          on_delete=account.delete)


# ---------------------------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------------------------


@login_required
@permission_required(SECTION_PERMS["signatures"], raise_exception=True)
def signatures(request):
    return page(request, "signatures.html", {"signatures": Signature.objects.all()})


@login_required
def signature_edit(request, pk: int | None = None):
    signature = get_object_or_404(Signature, pk=pk) if pk else None
    require(request, "messaging.change_signature" if signature else "messaging.add_signature")
    form = SignatureForm(request.POST or None, instance=signature)
    if request.method == "POST" and form.is_valid():
        signature = form.save()
        messages.success(request, _("Signature « %(signature)s » enregistrée.") % {"signature": signature})
        return redirect("messaging:signatures")
    return page(request, "signature_form.html", {"form": form, "signature": signature, **picker_context()})


@login_required
@permission_required("messaging.delete_signature", raise_exception=True)
def signature_delete(request, pk: int):
    signature = get_object_or_404(Signature, pk=pk)
    return confirm_delete(request, obj=signature, kind="Signature", back=reverse("messaging:signatures"),
                          on_delete=signature.delete)


# ---------------------------------------------------------------------------------------------
# Email types and their attachments
# ---------------------------------------------------------------------------------------------


@login_required
@permission_required(SECTION_PERMS["email_list"], raise_exception=True)
def email_list(request):
    templates = EmailTemplate.objects.select_related("category", "account", "signature").annotate(
        n_attachments=Count("attachments")
    )
    return page(request, "email_list.html", {"templates": templates})


@login_required
def email_edit(request, pk: int | None = None):
    template = get_object_or_404(EmailTemplate, pk=pk) if pk else None
    require(request, "messaging.change_emailtemplate" if template else "messaging.add_emailtemplate")
    initial = {}
    if template is None:
        if request.GET.get("category"):
            initial["category"] = request.GET["category"]
        default_account = EmailAccount.objects.filter(active=True).first()
        if default_account:
            initial["account"] = default_account.pk
            initial["signature"] = default_account.default_signature_id
    form = EmailTemplateForm(request.POST or None, instance=template, initial=initial)
    if request.method == "POST" and form.is_valid():
        created = template is None
        template = form.save()
        messages.success(request, _("Email type « %(template)s » enregistré.") % {"template": template})
        if created or "attachments" in request.POST:
            # A new type goes on to its own page, where attachments can be added.
            return redirect(reverse("messaging:email_edit", args=[template.pk]) + "#pieces-jointes")
        if "preview" in request.POST:
            return redirect("messaging:email_preview", pk=template.pk)
        return redirect("messaging:email_list")
    rules = []
    if template:
        for rule in template.attachments.select_related("external_file").order_by("id"):
            rules.append({"rule": rule, "description": str(rule.external_file) if rule.external_file_id
                          else f"{image_rule_description(rule)} – {rule.get_image_pick_display()}"})
    no_account = not EmailAccount.objects.exists()
    return page(
        request,
        "email_form.html",
        {
            "form": form,
            "template": template,
            "rules": rules,
            "image_form": ImageAttachmentForm(prefix="img"),
            "file_form": FileAttachmentForm(prefix="file"),
            "can_attach": request.user.has_perm("messaging.add_attachmentrule"),
            "no_account": no_account,
            **picker_context(),
        },
    )


@login_required
@permission_required("messaging.delete_emailtemplate", raise_exception=True)
def email_delete(request, pk: int):
    template = get_object_or_404(EmailTemplate, pk=pk)
    return confirm_delete(request, obj=template, kind="Email type", back=reverse("messaging:email_list"),
                          on_delete=template.delete)


def _back_to_attachments(template: EmailTemplate):
    return redirect(reverse("messaging:email_edit", args=[template.pk]) + "#pieces-jointes")


@login_required
@permission_required("messaging.add_attachmentrule", raise_exception=True)
@require_POST
def attachment_add_image(request, pk: int):
    template = get_object_or_404(EmailTemplate, pk=pk)
    form = ImageAttachmentForm(request.POST, prefix="img")
    if form.is_valid():
        rule = form.save(commit=False)
        rule.template = template
        rule.save()
        messages.success(request, _("Pièce jointe ajoutée : %(image)s (%(pick)s).") % {"image": image_rule_description(rule), "pick": rule.get_image_pick_display()})
    else:
        messages.error(request, _("Pièce jointe non ajoutée : %(errors)s") % {"errors": " ".join(e for errs in form.errors.values() for e in errs)})
    return _back_to_attachments(template)


@login_required
@permission_required("messaging.add_attachmentrule", raise_exception=True)
@require_POST
def attachment_add_file(request, pk: int):
    template = get_object_or_404(EmailTemplate, pk=pk)
    form = FileAttachmentForm(request.POST, request.FILES, prefix="file")
    if not form.is_valid():
        messages.error(request, _("Pièce jointe non ajoutée : %(errors)s") % {"errors": " ".join(e for errs in form.errors.values() for e in errs)})
        return _back_to_attachments(template)
    with transaction.atomic():
        external = form.cleaned_data["existing"]
        if external is None:
            require(request, "messaging.add_externalfile")
            external = ExternalFile.objects.create(label=form.cleaned_data["label"], file=form.cleaned_data["file"])
        AttachmentRule.objects.create(template=template, external_file=external)
    messages.success(request, _("Pièce jointe ajoutée : %(external)s.") % {"external": external})
    return _back_to_attachments(template)


@login_required
@permission_required("messaging.delete_attachmentrule", raise_exception=True)
@require_POST
def attachment_delete(request, pk: int, rule_pk: int):
    rule = get_object_or_404(AttachmentRule, pk=rule_pk, template_id=pk)
    rule.delete()
    messages.success(request, _("Pièce jointe retirée."))
    return _back_to_attachments(rule.template)


# ---------------------------------------------------------------------------------------------
# Custom merge fields
# ---------------------------------------------------------------------------------------------


CUSTOM_KINDS = {
    "particulier": (ParticularField, ParticularFieldForm, "Champ particulier", "particularfield"),
    "libre": (FreeField, FreeFieldForm, "Champ libre", "freefield"),
}


def custom_kind(kind: str):
    if kind not in CUSTOM_KINDS:
        raise Http404("Type de champ inconnu.")
    return CUSTOM_KINDS[kind]


@login_required
@permission_required(SECTION_PERMS["custom_fields"], raise_exception=True)
def custom_fields(request):
    return page(request, "custom_fields.html",
                {"particular": ParticularField.objects.all(), "free": FreeField.objects.all()})


@login_required
def custom_field_edit(request, kind: str, pk: int | None = None):
    model, form_class, label, codename = custom_kind(kind)
    field = get_object_or_404(model, pk=pk) if pk else None
    require(request, f"messaging.{'change' if field else 'add'}_{codename}")
    form = form_class(request.POST or None, instance=field)
    if request.method == "POST" and form.is_valid():
        field = services.custom_field_save(form=form)
        messages.success(request, _("%(label)s %(code)s enregistré.") % {"label": label, "code": field.code})
        return redirect("messaging:custom_fields")
    title = f"{label} {field.code}" if field else f"Nouveau {label.lower()}"
    return page(request, "form.html", {"form": form, "title": title, "back": reverse("messaging:custom_fields"),
                                       "intro": _custom_intro(kind)})


def _custom_intro(kind: str) -> str:
    if kind == "particulier":
        return ("Le texte inséré dépend du sexe et de l'âge du patient (enfant avant 18 ans). "
                "Exemple : « née » pour une fille ou une femme, « né » pour un garçon ou un homme.")
    return ("Le texte inséré dépend de la relation entre le praticien et le correspondant. "
            "Exemple : « Amicalement » pour un ami, « Confraternellement » pour un confrère.")


@login_required
def custom_field_delete(request, kind: str, pk: int):
    model, _form, label, codename = custom_kind(kind)
    require(request, f"messaging.delete_{codename}")
    field = get_object_or_404(model, pk=pk)
    return confirm_delete(request, obj=field, kind=label, back=reverse("messaging:custom_fields"),
                          on_delete=field.delete)


# ---------------------------------------------------------------------------------------------
# Preview
# ---------------------------------------------------------------------------------------------


def _appointment_choices(patient: Patient) -> list:
    """The patient's coming appointments first (soonest first), then the past ones (latest first)."""
    now = timezone.now()
    qs = patient.appointments.select_related("practitioner", "nature", "chair")
    coming = list(qs.filter(start__gte=now).order_by("start")[:20])
    past = list(qs.filter(start__lt=now).order_by("-start")[:20])
    return coming + past


def _preview(request, template, kind: str):
    query = request.GET.get("q", "").strip()
    found = list(patient_search(query=query)[:25]) if query else []
    patient = None
    if request.GET.get("patient"):
        patient = Patient.objects.filter(pk=request.GET["patient"]).select_related(
            "civil_guardian", "financial_guardian", "practitioner").first()
    elif len(found) == 1:
        patient = found[0]
    context = {"template": template, "kind": kind, "query": query, "found": found, "patient": patient}
    if patient is not None:
        choices = _appointment_choices(patient)
        chosen = request.GET.get("appointment", "")
        if chosen == "aucun":
            appointment = None
        elif chosen:
            appointment = next((a for a in choices if str(a.pk) == chosen), None)
        else:
            appointment = services.next_appointment(patient=patient)
        context.update(
            appointments=choices,
            appointment=appointment,
            preview=services.template_preview(template=template, patient=patient, appointment=appointment),
            practice=Practice.get(),
        )
    return page(request, "preview.html", context)


@login_required
@permission_required("messaging.view_smstemplate", raise_exception=True)
def sms_preview(request, pk: int):
    return _preview(request, get_object_or_404(SmsTemplate.objects.select_related("category"), pk=pk), "sms")


@login_required
@permission_required("messaging.view_emailtemplate", raise_exception=True)
def email_preview(request, pk: int):
    template = get_object_or_404(EmailTemplate.objects.select_related("category", "account", "signature"), pk=pk)
    return _preview(request, template, "email")
