"""Writes of the template side of messaging: custom fields numbering, category deletion, and the
"Tester" of an email account (a real SMTP conversation).

The sending pipeline keeps its own services in ``messaging.dispatch`` and friends.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import socket
import ssl
from dataclasses import dataclass

from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, models, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from .backends import SendError
from .backends.email import check_header_values
from .models import EmailAccount, FreeField, ParticularField, SmtpSecurity, TemplateCategory
from .providers import provider_for_host

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


# ---------------------------------------------------------------------------------------------
# Email account test
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountTestResult:
    ok: bool
    message: str


def email_account_connection(*, account: EmailAccount):
    """A Django SMTP connection built from ``account`` (never the project's EMAIL_BACKEND: the
    test must talk to the account's real server even where the project sends through locmem)."""
    return get_connection(
        SMTP_BACKEND,
        host=account.smtp_host,
        port=account.smtp_port,
        username=account.username or "",
        password=account.smtp_password,
        use_tls=account.security == SmtpSecurity.STARTTLS,
        use_ssl=account.security == SmtpSecurity.SSL,
        timeout=account.timeout,
        fail_silently=False,
    )


def smtp_error_explain(exc: BaseException, account: EmailAccount) -> str:
    """A plain account of what went wrong, with what to check next, in the active language (the
    staff member's for the Tester; the default one when the dispatcher records a failure)."""
    where = f"{account.smtp_host}:{account.smtp_port}"
    if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(exc.__context__, TimeoutError):
        # smtplib reports a greeting that never came as a disconnection caused by the timeout.
        exc = exc.__context__
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        provider = provider_for_host(account.smtp_host)
        if provider and provider.app_password:
            # The usual cause with these providers: the account's own password was typed.
            return gettext(
                "%(provider)s a refusé l'utilisateur ou le mot de passe (code %(code)s). %(app_password)s "
                "Vérifiez aussi l'utilisateur : l'adresse email complète."
            ) % {"provider": provider.label, "code": exc.smtp_code, "app_password": provider.app_password}
        return gettext(
            "Le serveur a refusé l'utilisateur ou le mot de passe (code %(code)s). "
            "Vérifiez l'utilisateur (souvent l'adresse email complète) et le mot de passe ; "
            "certains fournisseurs (Gmail, Outlook…) demandent un « mot de passe d'application »."
        ) % {"code": exc.smtp_code}
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        text = str(exc).lower()
        if "starttls" in text:
            return gettext(
                "Le serveur %(where)s ne propose pas STARTTLS : la connexion sécurisée a été refusée. "
                "Essayez « SSL/TLS » (souvent sur le port 465) ou vérifiez le port."
            ) % {"where": where}
        if "auth" in text:
            return gettext(
                "Le serveur %(where)s ne propose pas d'authentification sur cette connexion. "
                "Activez la sécurité STARTTLS ou SSL/TLS, ou laissez l'utilisateur vide."
            ) % {"where": where}
        return gettext("Le serveur %(where)s ne prend pas en charge une commande nécessaire : %(error)s") % {
            "where": where, "error": exc}
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return gettext("Le serveur a refusé l'adresse de destination %(email)s : %(detail)s") % {
            "email": account.email, "detail": _smtp_detail(exc.recipients)}
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return gettext(
            "Le serveur a refusé l'adresse d'expédition %(email)s (code %(code)s). "
            "L'adresse doit souvent être celle du compte authentifié."
        ) % {"email": account.email, "code": exc.smtp_code}
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return gettext(
            "Le serveur %(where)s a coupé la connexion. Le mode de sécurité ne correspond peut-être pas au "
            "port (465 : SSL/TLS ; 587 : STARTTLS ; 25 : aucune ou STARTTLS)."
        ) % {"where": where}
    if isinstance(exc, smtplib.SMTPResponseException):
        return gettext("Le serveur %(where)s a répondu par une erreur (code %(code)s) : %(error)s") % {
            "where": where, "code": exc.smtp_code, "error": _decode(exc.smtp_error)}
    if isinstance(exc, smtplib.SMTPException):
        return gettext("Erreur SMTP avec %(where)s : %(error)s") % {"where": where, "error": exc}
    if isinstance(exc, ssl.SSLCertVerificationError):
        return gettext(
            "Le certificat du serveur %(where)s n'est pas valide (%(error)s). "
            "Vérifiez l'adresse du serveur : elle doit être celle indiquée par votre fournisseur."
        ) % {"where": where, "error": exc.verify_message}
    if isinstance(exc, ssl.SSLError):
        return gettext(
            "La connexion sécurisée (TLS) avec %(where)s a échoué (%(error)s). "
            "Le mode de sécurité ne correspond sans doute pas au port : 465 attend « SSL/TLS », 587 « STARTTLS »."
        ) % {"where": where, "error": exc.reason or exc}
    if isinstance(exc, TimeoutError):
        return gettext(
            "Le serveur %(where)s n'a pas répondu dans le délai de %(timeout)s s. "
            "Vérifiez le port et le mode de sécurité (un port SSL/TLS contacté sans SSL reste muet), "
            "ou un pare-feu qui bloque ce port."
        ) % {"where": where, "timeout": account.timeout}
    if isinstance(exc, socket.gaierror):
        return gettext(
            "Serveur injoignable : le nom « %(host)s » ne correspond à aucun serveur connu (DNS). "
            "Vérifiez l'orthographe de l'adresse du serveur SMTP et la connexion Internet."
        ) % {"host": account.smtp_host}
    if isinstance(exc, ConnectionRefusedError):
        return gettext(
            "Serveur injoignable : %(where)s refuse la connexion. Vérifiez l'adresse du serveur et le port."
        ) % {"where": where}
    if isinstance(exc, OSError):
        return gettext("Serveur injoignable : %(where)s (%(error)s).") % {"where": where, "error": exc.strerror or exc}
    return gettext("Échec du test : %(error)s") % {"error": exc}


def _decode(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _smtp_detail(recipients: dict) -> str:
    return "; ".join(f"{code} {_decode(msg)}" for code, msg in recipients.values())


def email_account_test(*, account: EmailAccount, now: dt.datetime | None = None) -> AccountTestResult:
    """Open a real SMTP conversation with ``account``'s settings and send a test email to the
    account's own address. Records ``last_test_at/ok/message`` on the account and returns the
    outcome in plain words (active language: the staff member's); never raises for a network or SMTP failure."""
    if account.password_unreadable:
        result = AccountTestResult(ok=False, message=account.password_unreadable_message)
        return _record_test(account, result, now)
    subject = gettext("Test du compte « %(account)s »") % {"account": account.name}
    body = gettext(
        "Ce message a été envoyé pour tester les réglages d'envoi de ce compte email.\n"
        "Sa réception prouve que le cabinet peut envoyer des emails depuis cette adresse."
    )
    message = EmailMessage(
        subject=subject,
        body=body,
        from_email=account.from_header,
        to=[account.email],
        connection=email_account_connection(account=account),
    )
    try:
        check_header_values(message, account=account)
    except SendError as exc:
        return _record_test(account, AccountTestResult(ok=False, message=exc.message), now)
    try:
        message.send(fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:
        result = AccountTestResult(ok=False, message=smtp_error_explain(exc, account))
    else:
        result = AccountTestResult(
            ok=True,
            message=gettext(
                "Test réussi : le serveur %(host)s a accepté le message de test envoyé à "
                "%(email)s. Vérifiez sa réception dans la boîte de ce compte."
            ) % {"host": account.smtp_host, "email": account.email},
        )
    return _record_test(account, result, now)


def _record_test(account: EmailAccount, result: AccountTestResult, now: dt.datetime | None) -> AccountTestResult:
    account.last_test_at = now or timezone.now()
    account.last_test_ok = result.ok
    account.last_test_message = result.message
    account.save(update_fields=["last_test_at", "last_test_ok", "last_test_message"])
    if result.ok and account.paused_at is not None:
        # The server answers again: its waiting emails leave at the next dispatch, without
        # waiting for the next probe.
        from messaging.lifecycle import account_resume

        account_resume(account, now=account.last_test_at)
    return result


def email_account_save(*, form) -> EmailAccount:
    """Save an account form; the password changes only when a new one is typed or "clear" is
    ticked (the form never shows the stored password back). A stored password that cannot be
    decrypted is written back as it is (``UnreadableSecret``) until one of the two happens."""
    account = form.save(commit=False)
    new_password = form.cleaned_data.get("new_password") or ""
    if form.cleaned_data.get("clear_password"):
        account.password = ""
    elif new_password:
        account.password = new_password
    account.save()
    return account


# ---------------------------------------------------------------------------------------------
# Categories and custom fields
# ---------------------------------------------------------------------------------------------


class CategoryInUse(Exception):
    """The category still holds templates; ``message`` says how many (active language)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def category_in_use_message(*, category: TemplateCategory) -> str:
    """Why ``category`` cannot be deleted (how many templates it holds), or "" when it can."""
    sms = category.sms_templates.count()
    emails = category.email_templates.count()
    if not (sms or emails):
        return ""
    parts = []
    if sms:
        parts.append(ngettext("%(n)s SMS type", "%(n)s SMS types", sms) % {"n": sms})
    if emails:
        parts.append(ngettext("%(n)s email type", "%(n)s emails types", emails) % {"n": emails})
    return gettext(
        "La catégorie « %(category)s » contient encore %(what)s : "
        "déplacez-les dans une autre catégorie ou supprimez-les avant de supprimer la catégorie."
    ) % {"category": category.name, "what": parts[0] if len(parts) == 1 else gettext("%(sms)s et %(emails)s") % {"sms": parts[0], "emails": parts[1]}}


def category_delete(*, category: TemplateCategory) -> None:
    """Delete ``category``; raise CategoryInUse (saying how many templates use it) when it still
    holds SMS or email types (the foreign keys are PROTECT: templates are never lost this way)."""
    in_use = category_in_use_message(category=category)
    if in_use:
        raise CategoryInUse(in_use)
    try:
        category.delete()
    except ProtectedError as exc:  # a template added between the count and the delete
        raise CategoryInUse(
            gettext("La catégorie « %(category)s » est utilisée par %(n)s modèle(s).") % {
                "category": category.name, "n": len(exc.protected_objects)}
        ) from exc


def next_free_number(model: type[models.Model]) -> int:
    """The smallest number 1..99 not used by ``model`` (ParticularField or FreeField)."""
    used = set(model.objects.values_list("number", flat=True))
    for number in range(1, 100):
        if number not in used:
            return number
    raise ValueError(gettext("Les 99 %(fields)s sont déjà utilisés.") % {"fields": model._meta.verbose_name_plural})


def custom_field_save(*, form) -> ParticularField | FreeField:
    """Save a particular or free field form; a new field gets the next free number."""
    field = form.save(commit=False)
    if field.pk:
        field.save()
        return field
    return custom_field_create(field=field)


def custom_field_create(*, field: ParticularField | FreeField) -> ParticularField | FreeField:
    """Save the unsaved ``field`` under the next free number. Two users creating one at the same
    moment both succeed: the loser of the unique number retries with the next one."""
    model = type(field)
    for _attempt in range(5):
        field.number = next_free_number(model)
        try:
            with transaction.atomic():
                field.save(force_insert=True)
            return field
        except IntegrityError:
            field.pk = None
    raise IntegrityError(gettext("Impossible d'attribuer un numéro libre, réessayez."))


# ---------------------------------------------------------------------------------------------
# Preview (the settings pages and the rendertemplate command share it)
# ---------------------------------------------------------------------------------------------


def next_appointment(*, patient, now: dt.datetime | None = None):
    """The patient's next appointment still to come (state "futur"), or None: what a preview is
    about unless another appointment is chosen."""
    from patients.models import AppointmentState

    return (
        patient.appointments.filter(start__gte=now or timezone.now(), state=AppointmentState.FUTURE)
        .select_related("practitioner", "chair", "nature")
        .order_by("start")
        .first()
    )


def email_recipient(*, template, patient):
    """(recipient, correspondent) for an email type's recipient role: the patient, the civil or
    financial guardian (the patient when they are their own), or the patient's first
    correspondent (None when the patient has none)."""
    from .models import RecipientRole

    role = template.recipient_role
    if role == RecipientRole.CIVIL_GUARDIAN:
        return patient.civil_responsible(), None
    if role == RecipientRole.FINANCIAL_GUARDIAN:
        return patient.financial_responsible(), None
    if role == RecipientRole.CORRESPONDENT:
        link = patient.correspondent_links.select_related("correspondent").order_by("id").first()
        correspondent = link.correspondent if link else None
        return correspondent, correspondent
    return patient, None


@dataclass(frozen=True)
class Preview:
    """What ``template`` gives for one patient: ``composed`` is compose_sms's or compose_email's
    result; ``warnings`` adds the attachment warnings (and a missing recipient) to its own."""

    template: object
    composed: object
    warnings: list[str]
    attachments: list
    is_email: bool


def template_preview(*, template, patient, appointment=None, today: dt.date | None = None) -> Preview:
    """The exact message ``patient`` would receive from ``template`` (an SmsTemplate or an
    EmailTemplate), through the same compose functions as the sending pipeline."""
    from . import compose
    from .attachments import attachments_for
    from .models import EmailTemplate

    if not isinstance(template, EmailTemplate):
        composed = compose.compose_sms(body=template.body, patient=patient, appointment=appointment, today=today)
        return Preview(template, composed, list(composed.warnings), [], False)
    recipient, correspondent = email_recipient(template=template, patient=patient)
    composed = compose.compose_email(
        subject=template.subject,
        body_html=template.body_html,
        signature=template.signature,
        patient=patient,
        appointment=appointment,
        recipient=recipient,
        correspondent=correspondent,
        today=today,
    )
    warnings = list(composed.warnings)
    if recipient is None:
        warnings.insert(0, gettext("Ce patient n'a pas de %(role)s : l'email ne partirait pas.") % {
            "role": str(template.get_recipient_role_display()).lower()})
    attachments = attachments_for(template=template, patient=patient)
    warnings.extend(attachments.warnings)
    return Preview(template, composed, warnings, list(attachments), True)
