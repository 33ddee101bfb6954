"""Sending pages: the SMS and email windows of the patient file, the result of a send, the
communication history (re-send, delete, print) and the demo inbox. Thin: forms in, services out
(messaging.outbox), no sending logic here."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from messaging.compose import compose_email, compose_for, compose_sms
from messaging.cost import new_estimate, price_per_part
from messaging.gateways import configured_name
from messaging.html import clean_editor_html, html_to_text, merge_texts
from messaging.merge import MissingField, validate_merge_text
from messaging.models import (
    Channel,
    EmailAccount,
    EmailTemplate,
    Mailing,
    MailingOrigin,
    Message,
    MessageStatus,
    Purpose,
    SandboxEmail,
    SandboxSms,
    Signature,
    SmsTemplate,
    TemplateCategory,
)
from messaging.outbox import mailing_create, message_hide, message_resend, message_send_now
from messaging.policy import (
    ChannelPlan,
    Recipient,
    audience,
    email_roles,
    missing_data_note,
    recipients_for,
    sms_roles,
)
from messaging.purpose import copy_of, earlier_messages, purpose_of_template
from messaging.services import email_recipient
from messaging.sms import too_long_message as sms_too_long
from messaging.views_settings import gsm_tables
from patients.models import Appointment, AppointmentState, Patient
from patients.phones import format_fr
from practice.models import Practice
from practice.uploads import ATTACHMENT_EXTENSIONS, MB, mb_label
from practice.validators import validate_header_text

SEND_PERM = "practice.send_messages"


def _staff_view(view):
    return login_required(permission_required(SEND_PERM, raise_exception=True)(view))


def _patient(pk: int) -> Patient:
    return get_object_or_404(Patient.objects.select_related("civil_guardian", "financial_guardian", "practitioner"), pk=pk)


def _appointments(patient: Patient):
    return list(
        Appointment.objects.filter(patient=patient, start__gte=timezone.now() - timezone.timedelta(days=30))
        .exclude(state=AppointmentState.CANCELLED)
        .select_related("practitioner")
        .order_by("start")[:20]
    )


def _default_appointment(appointments):
    now = timezone.now()
    return next((a for a in appointments if a.start >= now and a.state == AppointmentState.FUTURE), None)


def _default_keys(patient: Patient, channel: str) -> list[str]:
    """Pre-checked recipients: those the recipient policy chooses (``messaging.policy``: the
    practice's SMS defaults, the patient first for an email, their family when they cannot)."""
    plan = ChannelPlan.only(channel, practice=Practice.get())
    return [r.key for r in audience(patient, plan=plan).on(channel) if r.sendable]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class _WindowFilesField(forms.FileField):
    """The window's chosen files: each one is checked and stored by the view, its refusal named
    (``_window_uploads``); the field itself only carries the errors."""

    def clean(self, data, initial=None):
        return None


ATTACHMENT_ACCEPT = ",".join(f".{e}" for e in sorted(ATTACHMENT_EXTENSIONS))


class _SendForm(forms.Form):
    recipients = forms.MultipleChoiceField(
        label=_("Destinataires"), widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choisissez au moins un destinataire.")},
    )
    appointment = forms.ModelChoiceField(queryset=Appointment.objects.none(), required=False, label=_("Rendez-vous"))
    send_again = forms.BooleanField(required=False, label=_("Envoyer à nouveau"))
    keep_missing = forms.BooleanField(required=False, label=_("Envoyer malgré les données manquantes"))
    # The fingerprint of the messages shown by "Confirmation avant envoi": the send goes ahead
    # only when what would leave now is still what staff confirmed.
    confirmed = forms.CharField(required=False, widget=forms.HiddenInput)
    # What the window's last server-side merge left empty (signed by ``preview``): the text in
    # the window is already merged, so its blanks carry no code any more.
    merge_check = forms.CharField(required=False, widget=forms.HiddenInput)
    token = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, recipients: list[Recipient], appointments, **kwargs):
        super().__init__(*args, **kwargs)
        # Set by _send when it stops: who lacks required data (and what), or the final
        # messages to confirm.
        self.missing_rows: list[tuple[Recipient, list]] = []
        self.confirmation: list[tuple[Recipient, object]] = []
        self.confirmation_digest = ""
        self.recipient_list = recipients
        self.fields["recipients"].choices = [(r.key, r.name) for r in recipients if r.sendable]
        self.fields["appointment"].queryset = Appointment.objects.filter(pk__in=[a.pk for a in appointments])

    def chosen(self) -> list[Recipient]:
        keys = set(self.cleaned_data["recipients"])
        return [r for r in self.recipient_list if r.key in keys]


class SmsForm(_SendForm):
    template = forms.ModelChoiceField(queryset=SmsTemplate.objects.filter(active=True), required=False, label=_("Texte type"))
    body = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 7}),
                           error_messages={"required": _("Le message est vide.")})

    email_if_no_mobile = forms.BooleanField(required=False, label=_("Envoyer par email si pas de portable"))
    email_template = forms.ModelChoiceField(
        queryset=EmailTemplate.objects.filter(active=True), required=False, label=_("Email type envoyé à la place"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Without a mobile in the family nobody can be ticked: the email stands in for the SMS
        # (checked in clean), so neither a recipient nor a text is required then.
        self.fields["recipients"].required = False
        self.fields["body"].required = False

    def clean(self):
        data = super().clean()
        fallback = data.get("email_if_no_mobile")
        if fallback and not data.get("email_template"):
            self.add_error("email_template", _("Choisissez l'email type envoyé aux patients sans portable."))
        if not data.get("recipients") and not fallback and "recipients" not in self.errors:
            self.add_error("recipients", _("Choisissez au moins un destinataire."))
        if not (data.get("body") or "").strip() and (data.get("recipients") or not fallback) and "body" not in self.errors:
            self.add_error("body", _("Le message est vide."))
        return data

    def clean_body(self):
        # The text is merged again when written: a mistyped code ("@PNOMM") would leave as the
        # value of the code it starts with plus the rest ("LE GALLM"). Refused, with a suggestion.
        body = self.cleaned_data["body"].replace("\r\n", "\n").replace("\r", "\n")
        too_long = sms_too_long(body)
        if too_long:
            raise forms.ValidationError(too_long)
        validate_merge_text(body)
        return body


class EmailForm(_SendForm):
    account = forms.ModelChoiceField(queryset=EmailAccount.objects.filter(active=True), label=_("Compte d'envoi"),
                                     error_messages={"required": _("Choisissez le compte d'envoi.")})
    signature = forms.ModelChoiceField(queryset=Signature.objects.all(), required=False, label=_("Signature"),
                                       empty_label=_("Aucune signature"))
    template = forms.ModelChoiceField(queryset=EmailTemplate.objects.filter(active=True), required=False, label=_("Email type"))
    subject = forms.CharField(label=_("Objet"), max_length=255, error_messages={"required": _("L'objet est vide.")})
    body_html = forms.CharField(label=_("Message"), error_messages={"required": _("Le message est vide.")})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The templates pages' rich editor: staff format text, they never see HTML.
        from messaging.forms import rich_text_widget

        self.fields["body_html"].widget = rich_text_widget(height=300)

    def clean_subject(self):
        subject = self.cleaned_data["subject"]
        validate_header_text(subject)
        validate_merge_text(subject)  # see SmsForm.clean_body
        return subject

    # Files from the staff member's computer, attached to this email only. Checked and stored by
    # the view (messaging.attachments.upload_store) even when another field is wrong, so a
    # corrected form still carries them; "upload" posts back those already stored.
    fichiers = _WindowFilesField(required=False, label=_("Joindre des fichiers de l'ordinateur"),
                                 widget=MultipleFileInput(attrs={"accept": ATTACHMENT_ACCEPT}))

    def clean_body_html(self):
        cleaned = clean_editor_html(self.cleaned_data["body_html"])
        text = html_to_text(cleaned)
        if not text.strip():
            raise forms.ValidationError(_("Le message est vide."))
        validate_merge_text(merge_texts(cleaned))
        return cleaned


def _template_catalog(channel: str) -> list[dict]:
    """Categories and their active templates, for the category -> template pickers."""
    out = []
    for cat in TemplateCategory.objects.order_by("position", "name"):
        if channel == Channel.SMS:
            items = [{"id": t.pk, "label": t.title} for t in SmsTemplate.objects.filter(category=cat, active=True)]
        else:
            items = [
                {"id": t.pk, "label": t.label, "account": t.account_id, "signature": t.signature_id,
                 "recipient": t.recipient_role}
                for t in EmailTemplate.objects.filter(category=cat, active=True)
            ]
        if items:
            out.append({"id": cat.pk, "name": cat.name, "templates": items})
    return out


def _email_instead(patient: Patient, template: EmailTemplate) -> list[Recipient]:
    """Who gets ``template`` in place of the SMS: the policy's "email when there is no mobile"
    (nobody of the family has a mobile; the email type's recipient first), [] otherwise."""
    plan = ChannelPlan(sms=True, email_when_no_mobile=True, sms_roles=sms_roles(Practice.get()),
                       email_roles=email_roles(template.recipient_role))
    return audience(patient, plan=plan).email_no_mobile


def _window_uploads(request: HttpRequest, patient: Patient, form: _SendForm) -> list:
    """The one-off files of an email window: those stored by its earlier submits and still
    ticked, then each file chosen now, checked and stored (a refused one adds its French reason
    to ``form``, naming it; the others are kept)."""
    from django.core.exceptions import ValidationError

    from messaging import attachments

    posted = request.POST.getlist("upload")
    gone = attachments.uploads_gone(ids=posted)
    if gone:
        # Removed by the purge of files never sent while the window stayed open: the email
        # must not leave without them. The window posts back each file's name with its id.
        form.add_error("fichiers", str(attachments.UploadGone(request.POST.get(f"upload_name_{pk}", "") for pk in gone)))
    uploads = attachments.uploads_of_window(ids=posted, patient=patient, user=request.user)
    chosen = [f for f in request.FILES.getlist("fichiers") if f.name or f.size]
    for upload in chosen:
        try:
            uploads.append(attachments.upload_store(upload=upload, patient=patient, user=request.user))
        except ValidationError as exc:
            form.add_error("fichiers", _("« %(name)s » : %(errors)s") % {"name": upload.name, "errors": " ".join(exc.messages)})
    if chosen:
        attachments.uploads_purge_unused()  # files chosen in a window and never sent, a day ago or more
    return uploads


def _checked_before_sending(form: _SendForm, channel: str, recipients: list[Recipient], template, *,
                            from_sms: bool) -> bool:
    """Whether the send of ``form`` may go ahead for ``recipients`` on ``channel``; when not, what
    stops it is set on the form: required merge data missing for someone (``form.missing_rows``,
    unless staff ticked "Envoyer malgré les données manquantes"), or the email type's
    "Confirmation avant envoi" (``form.confirmation``: the final messages, to confirm)."""
    data = form.cleaned_data
    if channel == Channel.SMS:
        content = {"sms_body": data["body"]}
    elif from_sms:  # the email type in place of the SMS, as written
        account = template.account or EmailAccount.objects.filter(active=True).first()
        content = {"subject": template.subject, "body_html": template.body_html,
                   "signature": template.signature or (account.default_signature if account else None)}
    else:
        content = {"subject": data["subject"], "body_html": data["body_html"], "signature": data["signature"]}
    practice = Practice.get()
    composed = [(r, compose_for(r, channel=channel, appointment=data["appointment"], practice=practice, **content))
                for r in recipients if r.sendable]
    # The codes merged in the window are gone from the text; what that merge left empty counts
    # as much as what merging the text now leaves empty.
    merged_blanks = [] if from_sms and channel == Channel.EMAIL else merge_check_read(
        data.get("merge_check", ""), patient_id=recipients[0].patient.pk if recipients and recipients[0].patient else None)
    form.missing_rows = []
    for r, c in composed:
        missing = [*c.missing, *(m for m in merged_blanks if all(m.code != n.code for n in c.missing))]
        if missing:
            form.missing_rows.append((r, missing))
    if form.missing_rows and not data["keep_missing"]:
        names = ", ".join(r.name for r, _missing in form.missing_rows)
        form.add_error(None, gettext(
            "Message non envoyé : données manquantes pour %(names)s (détail ci-dessous). Choisissez le rendez-vous, "
            "complétez le dossier ou corrigez le message ; pour l'envoyer tel quel, cochez « Envoyer malgré les "
            "données manquantes ».") % {"names": names})
        return False
    if channel == Channel.EMAIL and isinstance(template, EmailTemplate) and template.confirm_before_send:
        digest = _digest(composed, data["keep_missing"])
        if data.get("confirmed") != digest:
            form.confirmation, form.confirmation_digest = composed, digest
            form.attachment_names = [str(rule) for rule in template.attachments.all()]
            return False
    return True


_MERGE_CHECK_SALT = "messaging.send-window.merge-check"


def merge_check_sign(*, patient_id: int, missing) -> str:
    """A signed note of the required codes a merge of the window left empty for this patient."""
    return signing.dumps({"p": patient_id, "m": [[m.code, m.text] for m in missing]}, salt=_MERGE_CHECK_SALT)


def merge_check_read(value: str, *, patient_id: int | None) -> list[MissingField]:
    """The missing fields noted by ``merge_check_sign`` for this patient ([] for nothing, a note
    of another patient, or one not signed here)."""
    if not value or patient_id is None:
        return []
    try:
        data = signing.loads(value, salt=_MERGE_CHECK_SALT, max_age=7 * 24 * 3600)
    except signing.BadSignature:
        return []
    if data.get("p") != patient_id:
        return []
    return [MissingField(code, text) for code, text in data.get("m", [])]


def _digest(composed, keep_missing: bool) -> str:
    """A fingerprint of the final messages (who, subject, text): what "Confirmer l'envoi" confirms."""
    import hashlib

    h = hashlib.sha256(str(keep_missing).encode())
    for r, c in composed:
        for part in (r.key, c.subject, c.html):
            h.update(part.encode() + b"\x00")
    return h.hexdigest()[:32]


def _send(request: HttpRequest, patient: Patient, channel: str, form: _SendForm,
          uploads: list | None = None) -> HttpResponse | None:
    """Record the send of a valid window: the redirect to its result, or None with the reason
    added to ``form``. From the SMS window with "Envoyer par email si pas de portable", a
    patient whose family has no mobile gets the chosen email type instead. ``uploads``: the
    files attached once to the email window (``UploadedAttachment``), carried by each message."""
    from messaging.attachments import upload_entries, uploads_claim, uploads_settle

    data = form.cleaned_data
    sends: list[tuple[str, list[Recipient], object]] = []
    if form.chosen():
        sends.append((channel, form.chosen(), data["template"]))
    elif channel == Channel.SMS and data.get("email_if_no_mobile"):
        instead = _email_instead(patient, data["email_template"])
        if not instead:
            form.add_error("recipients", _("Un portable est connu dans la famille : cochez le destinataire du SMS "
                                         "(l'email ne part qu'à défaut de portable)."))
            return None
        sends.append((Channel.EMAIL, instead, data["email_template"]))
    mailing = None
    for send_channel, recipients, template in sends:
        if not _checked_before_sending(form, send_channel, recipients, template, from_sms=channel == Channel.SMS):
            return None
        purpose = purpose_of_template(template) if data["appointment"] else Purpose.OTHER
        if purpose != Purpose.OTHER and not data["send_again"]:
            earlier = earlier_messages(appointment_ids=[data["appointment"].pk], channel=send_channel, purpose=purpose)
            first = copy_of(earlier, data["appointment"])
            if first is not None:
                # Said here rather than recorded as "not sent": staff are in front of it.
                form.add_error(None, _("%(first_text_purpose)s Cochez « Envoyer à nouveau » pour l'envoyer quand même.") % {"first_text_purpose": first.text(purpose).shown()})
                return None
        common = dict(
            channel=send_channel, origin=MailingOrigin.PATIENT_FILE, requested_by=request.user,
            recipients=recipients, template=template, appointment=data["appointment"],
            label=f"{'SMS' if send_channel == Channel.SMS else 'Email'} à {patient.display_name}",
            purpose=purpose, send_again=data["send_again"],
        )
        try:
            if channel == Channel.SMS and send_channel == Channel.SMS:
                mailing = mailing_create(sms_body=data["body"], idempotency_key=f"patient-file:{data['token']}"[:120],
                                         keep_missing=data["keep_missing"], **common)
            elif channel == Channel.SMS:
                # The email type as written (its account, signature and attachments), in place of the SMS.
                account = template.account or EmailAccount.objects.filter(active=True).first()
                mailing = mailing_create(account=account, idempotency_key=f"patient-file:{data['token']}:email"[:120],
                                         keep_missing=data["keep_missing"], **common)
            else:
                # One transaction: the files are claimed before the messages naming them are
                # written (the purge cannot remove them in between), and a file the mailing
                # does not carry (the copy of a second post of the window) goes at once.
                with transaction.atomic():
                    uploads_claim(uploads or [])
                    mailing = mailing_create(
                        email_subject=data["subject"], email_body_html=data["body_html"], account=data["account"],
                        signature=data["signature"], idempotency_key=f"patient-file:{data['token']}"[:120],
                        extra_attachments=upload_entries(uploads or []), keep_missing=data["keep_missing"], **common,
                    )
                    uploads_settle(mailing=mailing, uploads=uploads or [])
        except ValueError as exc:
            form.add_error(None, str(exc))
            return None
        if data["keep_missing"] and form.missing_rows:
            _note_kept(mailing, form.missing_rows)
    return redirect("sending:result", pk=mailing.pk)


def _note_kept(mailing: Mailing, missing_rows) -> None:
    """Note on each message staff kept although required data was missing, which data: the
    outbox notes what merging leaves empty, not what the window's own merge left empty (the
    text it received was merged already)."""
    noted = {r.key: missing_data_note(missing) for r, missing in missing_rows}
    # Any state: the dispatch queued on commit may have sent it already (the note is no state).
    for message in mailing.messages.exclude(status=MessageStatus.SKIPPED):
        note = noted.get(f"{message.recipient_role}:{message.to}")
        if note and note not in message.note:
            Message.objects.filter(pk=message.pk).update(note=" ".join(p for p in (note, message.note) if p)[:500],
                                                         missing_kept=True)


def _send_window(request: HttpRequest, patient_pk: int, channel: str) -> HttpResponse:
    patient = _patient(patient_pk)
    recipients = recipients_for(patient=patient, channel=channel)
    appointments = _appointments(patient)
    form_class = SmsForm if channel == Channel.SMS else EmailForm
    uploads = []
    if request.method == "POST":
        if channel == Channel.EMAIL and (sent := _already_sent(request)) is not None:
            # The same window posted again (a double click): its email is written already. Its
            # files are not stored a second time.
            return redirect("sending:result", pk=sent.pk)
        form = form_class(request.POST, request.FILES, recipients=recipients, appointments=appointments)
        form.is_valid()  # every field's error at once, with the files' below
        if channel == Channel.EMAIL:
            uploads = _window_uploads(request, patient, form)
        if form.is_valid():
            response = _send(request, patient, channel, form, uploads)
            if response is not None:
                return response
    else:
        appt = _default_appointment(appointments)
        initial = {"recipients": _default_keys(patient, channel), "token": uuid.uuid4().hex, "appointment": appt}
        if channel == Channel.EMAIL:
            account = EmailAccount.objects.filter(active=True).first()
            initial.update(account=account, signature=account.default_signature if account else None)
        form = form_class(initial=initial, recipients=recipients, appointments=appointments)
    return render(
        request,
        f"messaging/sending/send_{channel}.html",
        {
            "patient": patient,
            "form": form,
            "recipients": recipients,
            "appointments": appointments,
            "catalog": _template_catalog(channel),
            "checked": set(form["recipients"].value() or []),
            "signatures": {s.pk: s.body_html for s in Signature.objects.all()} if channel == Channel.EMAIL else {},
            "counter_config": {"warn_over_160": Practice.get().sms_warn_over_160, "to_gsm_url": reverse("messaging:sms_to_gsm"),
                               "price": _price_text(), "recipients_selector": "input[name=recipients]"},
            "gsm_tables": gsm_tables(),
            "email_templates": EmailTemplate.objects.filter(active=True).order_by("label") if channel == Channel.SMS else [],
            "uploads": uploads,
            "upload_limit": _upload_limit(),
        },
    )


def _already_sent(request: HttpRequest) -> Mailing | None:
    """The mailing this user's email window already wrote under its token, if any."""
    token = request.POST.get("token", "")
    if not token:
        return None
    return Mailing.objects.filter(idempotency_key=f"patient-file:{token}"[:120], requested_by=request.user).first()


def _upload_limit() -> dict:
    """The size limit of a one-off attachment, for the window's text and its check in the
    browser (a file over the whole request's limit would be refused before the form is read)."""
    from django.conf import settings

    megabytes = getattr(settings, "EMAIL_ATTACHMENT_MAX_MB", 10)
    return {"bytes": int(megabytes * MB), "label": mb_label(megabytes)}


def _price_text() -> str | None:
    """The price of one SMS part as a decimal string for the counter's live estimate, or None."""
    price = price_per_part()
    return None if price is None else str(price)


@_staff_view
def send_sms(request, patient_pk):
    return _send_window(request, patient_pk, Channel.SMS)


@_staff_view
def send_email(request, patient_pk):
    return _send_window(request, patient_pk, Channel.EMAIL)


@_staff_view
@require_POST
def preview(request, patient_pk):
    """The merged text of a template (or of typed text) for this patient: what compose_* gives,
    as JSON, so the window shows exactly what will leave."""
    patient = _patient(patient_pk)
    appointment = None
    if request.POST.get("appointment"):
        appointment = get_object_or_404(Appointment.objects.select_related("practitioner", "chair", "nature"),
                                        pk=request.POST["appointment"], patient=patient)
    channel = request.POST.get("channel")
    if channel == Channel.SMS:
        body = request.POST.get("body")
        if request.POST.get("template"):
            body = get_object_or_404(SmsTemplate, pk=request.POST["template"]).body
        composed = compose_sms(body=body or "", patient=patient, appointment=appointment, recipient=patient)
        seg = composed.segments
        accent = ""
        if composed.plain_name_parts < seg.parts:
            estimate = new_estimate()
            estimate.accented.append((patient.display_name, seg.parts, composed.plain_name_parts))
            accent = estimate.accented_text
        return JsonResponse({
            "text": composed.text, "warnings": composed.warnings, "accent": accent,
            "merge_check": merge_check_sign(patient_id=patient.pk, missing=composed.missing),
            "segments": {"encoding": seg.encoding, "length": seg.length, "parts": seg.parts, "ucs2_chars": list(seg.ucs2_chars)},
        })
    if channel == Channel.EMAIL:
        template = None
        subject, body = request.POST.get("subject", ""), request.POST.get("body_html", "")
        if request.POST.get("template"):
            template = get_object_or_404(EmailTemplate.objects.select_related("account", "signature"), pk=request.POST["template"])
            subject, body = template.subject, template.body_html
        # Merged for whom the email type names (its correspondent's name and relationship for
        # @COR* and @LIBRE), the patient for typed text.
        recipient, correspondent = email_recipient(template=template, patient=patient) if template else (patient, None)
        # The signature is added when sending; the editor holds the body alone.
        composed = compose_email(subject=subject, body_html=body, signature=None, patient=patient,
                                 appointment=appointment, recipient=recipient or patient, correspondent=correspondent)
        attachments = [str(rule) for rule in template.attachments.all()] if template else []
        warnings = list(composed.warnings)
        if recipient is None:
            warnings.insert(0, gettext("Ce patient n'a pas de %(role)s : l'email ne partirait pas.") % {
                "role": str(template.get_recipient_role_display()).lower()})
        if attachments:
            from messaging.attachments import attachments_for

            # A rule that finds nothing for this patient: the email would leave without it.
            warnings += attachments_for(template=template, patient=patient).warnings
        return JsonResponse({
            "subject": composed.subject, "html": composed.html, "text": composed.text, "warnings": warnings,
            "merge_check": merge_check_sign(patient_id=patient.pk, missing=composed.missing),
            "attachments": attachments,
            "account": template.account_id if template else None,
            "signature": template.signature_id if template else None,
        })
    return JsonResponse({"error": "Canal inconnu."}, status=400)


@_staff_view
def mailing_result(request, pk):
    mailing = get_object_or_404(Mailing.objects.select_related("requested_by"), pk=pk)
    rows = list(mailing.messages.select_related("patient", "send_now_by").order_by("id"))
    in_progress = any(
        m.status == MessageStatus.SENDING or (m.status == MessageStatus.PENDING and not m.error_code)
        for m in rows
    )
    patient = next((m.patient for m in rows if m.patient), None)
    from messaging.mass_mailing import waiting_text, waiting_until

    now = timezone.now()
    for m in rows:
        # A wait that is over ("Heures de silence : envoi prévu le … à 08h00" read at 09h00) is
        # no date to show: the row leaves at the next pass of the dispatch schedule.
        m.detail = " ".join(part for part in (m.reason_shown, m.note) if part)
        if m.status == MessageStatus.PENDING and m.not_before is not None and m.not_before <= now:
            m.detail = gettext("En attente : part au prochain passage de l'envoi automatique (dans la minute).")
    waiting = waiting_text(channel=mailing.channel, until=waiting_until(messages=mailing.messages.all(), now=now))
    # The demo's gateways deliver into the demo inbox: offer the way there.
    demo_inbox = configured_name() == "sandbox"
    return render(request, "messaging/sending/result.html",
                  {"mailing": mailing, "rows": rows, "in_progress": in_progress, "patient": patient, "demo_inbox": demo_inbox,
                   "waiting": waiting})


@_staff_view
def patient_history(request, patient_pk):
    patient = _patient(patient_pk)
    return render(request, "messaging/sending/history_page.html", {"patient": patient})


def _message_for_staff(pk: int) -> Message:
    return get_object_or_404(Message.objects.select_related("mailing", "patient", "account", "send_now_by"), pk=pk)


def _safe_next(request, target: str) -> str:
    """``target`` when it is a page of this site, else "" (Django's own test, as the login
    view's: "/\\host" and "/\t/host" are other sites to a browser)."""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return ""


def _back(request, message: Message):
    target = _safe_next(request, request.POST.get("next", ""))
    if target:
        return redirect(target)
    if message.patient_id:
        return redirect("sending:history", patient_pk=message.patient_id)
    return redirect("home")


@_staff_view
@require_POST
def message_resend_view(request, pk):
    if not request.user.has_perm("messaging.resend_message"):
        raise PermissionDenied(_("Vous n'avez pas le droit de renvoyer un message."))
    message = _message_for_staff(pk)
    try:
        mailing = message_resend(message=message, requested_by=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
        return _back(request, message)
    return redirect("sending:result", pk=mailing.pk)


@_staff_view
def message_send_now_view(request, pk):
    """"Envoyer maintenant" an SMS held by the quiet hours: GET shows what leaves, to whom, and
    that it leaves during the quiet hours; only the POST of that confirmation (``confirmer``)
    sends it (``outbox.message_send_now``: who and when are recorded)."""
    message = _message_for_staff(pk)
    if request.method == "POST" and request.POST.get("confirmer") == "oui":
        try:
            message_send_now(message=message, requested_by=request.user)
        except ValueError as exc:
            messages.error(request, str(exc))
            return _back(request, message)
        messages.success(request, _("Envoi immédiat demandé : le SMS à %(who)s part maintenant, malgré les heures de silence.")
                         % {"who": message.recipient_name or message.to})
        return redirect("sending:result", pk=message.mailing_id)
    from messaging.lifecycle import WaitReason

    practice = Practice.get()
    return render(request, "messaging/sending/send_now_confirm.html", {
        "m": message, "held": message.status == MessageStatus.PENDING and message.error_code == WaitReason.QUIET
        and message.send_now_at is None,
        "practice": practice, "next": _safe_next(request, request.GET.get("next", "")),
    })


@_staff_view
@require_POST
def message_delete_view(request, pk):
    message = _message_for_staff(pk)
    message_hide(message=message)
    messages.success(request, _("Le message a été supprimé de l'historique."))
    return _back(request, message)


@_staff_view
def message_print(request, pk):
    message = _message_for_staff(pk)
    if message.hidden:
        raise Http404("Message supprimé de l'historique.")
    return render(request, "messaging/sending/print.html", {"m": message, "now": timezone.now()})


@_staff_view
def letter_reprint(request, pk):
    """One printed letter again, as a PDF download rebuilt from its stored text (same permission
    as printing a mass mailing's letters)."""
    from practice.files import content_response

    from .letters import reprint_pdf
    from .models import PrintedLetter

    letter = get_object_or_404(PrintedLetter, pk=pk)
    return content_response(reprint_pdf(letter), filename=f"courrier-{letter.pk}-{letter.letter_date:%Y-%m-%d}.pdf")


@_staff_view
def demo_inbox(request):
    numbers = list(SandboxSms.objects.values_list("to", flat=True).distinct().order_by("to"))
    current = request.GET.get("numero") or (numbers[0] if numbers else "")
    sms = list(SandboxSms.objects.filter(to=current).order_by("created_at", "id")) if current else []
    # What the "patient" answered from here (the demo's "Répondre en tant que patient"), in the
    # same thread as what the practice sent.
    from messaging.models import InboundMessage

    answers = list(InboundMessage.objects.filter(from_number=current).order_by("received_at", "id")) if current else []
    thread = sorted([(s.created_at, 0, s) for s in sms] + [(a.received_at, 1, a) for a in answers],
                    key=lambda entry: (entry[0], entry[1]))
    emails = list(SandboxEmail.objects.order_by("-received_at", "-id")[:100])
    selected = None
    if request.GET.get("email", "").isdigit():
        selected = SandboxEmail.objects.filter(pk=int(request.GET["email"])).first()
    elif emails:
        selected = emails[0]
    return render(request, "messaging/sending/demo_inbox.html", {
        "numbers": [(n, format_fr(n) or n) for n in numbers], "current": current, "current_display": format_fr(current) or current,
        "sms": sms, "thread": [{"sent": e[2]} if e[1] == 0 else {"received": e[2]} for e in thread],
        "emails": emails, "selected": selected,
        "tab": request.GET.get("onglet", "sms"),
    })
