"""Messaging data: what staff write (categories, SMS and email types, custom merge fields,
signatures, email accounts, attachments) and what goes out (mailings and their messages: the
outbox, the send log and each patient's communication history in one table).

The schema is shared by the template pages, the sending pipeline, mass mailings and the
scheduler; see docs/architecture.md for the flow.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from practice.crypto import UNREADABLE_MESSAGE, EncryptedTextField, UnreadableSecret, UnreadableSecretError
from practice.uploads import validate_attachment
from practice.validators import validate_header_text


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("Email")
    LETTER = "letter", _("Courrier")


class Purpose(models.TextChoices):
    """What a message about an appointment is for (messaging.purpose: one per appointment,
    purpose and channel within the practice's period)."""

    REMINDER = "reminder", _("Rappel")
    CONFIRMATION = "confirmation", _("Confirmation")
    MISSED = "missed", _("Relance du rendez-vous manqué")
    MOVED = "moved", _("Avis de déplacement")
    CANCELLED = "cancelled", _("Avis d'annulation")
    OTHER = "other", _("Autre")


class RecipientRole(models.TextChoices):
    PATIENT = "patient", _("Patient")
    CIVIL_GUARDIAN = "civil", _("Responsable civil")
    FINANCIAL_GUARDIAN = "financial", _("Responsable financier")
    CORRESPONDENT = "correspondent", _("Correspondant")
    OTHER = "other", _("Autre destinataire")


# ---------------------------------------------------------------------------------------------
# Templates and their building blocks (issue "Message templates")
# ---------------------------------------------------------------------------------------------


class TemplateCategory(models.Model):
    """A folder of templates ("Rendez-vous", "Confrères"), shared by SMS and email types."""

    name = models.CharField(_("nom"), max_length=80, unique=True)
    position = models.PositiveSmallIntegerField(_("ordre"), default=0)
    # The purpose of the messages written from this folder's templates about an appointment.
    purpose = models.CharField(
        _("objet des messages"), max_length=15, choices=Purpose.choices, default=Purpose.OTHER,
        help_text=_("Un rendez-vous ne reçoit qu'un message de chaque objet par canal dans le délai du cabinet "
                  "(sauf « Autre »)."),
    )

    class Meta:
        verbose_name = _("catégorie de modèles")
        verbose_name_plural = _("catégories de modèles")
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class SmsTemplate(models.Model):
    """An "SMS type": a text with merge fields (@PNOM...)."""

    category = models.ForeignKey(
        TemplateCategory, verbose_name=_("catégorie"), on_delete=models.PROTECT, related_name="sms_templates"
    )
    title = models.CharField(_("titre"), max_length=120)
    body = models.TextField(_("texte"))
    # The patient may answer (OUI / NON): sent from the practice's reply number for the gateway
    # (an alphanumeric sender cannot receive SMS), and a reply is read by messaging.replies.
    asks_reply = models.BooleanField(
        _("demander une réponse"), default=False,
        help_text=_("Le patient peut répondre OUI pour confirmer ou NON pour annuler (écrivez-le dans le texte, "
                  "par exemple « Répondez OUI pour confirmer, NON pour annuler »). Le SMS part alors du numéro "
                  "de réponse du cabinet (Paramétrage SMS)."),
    )
    active = models.BooleanField(_("actif"), default=True)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("SMS type")
        verbose_name_plural = _("SMS types")
        ordering = ["category__position", "category__name", "title"]
        constraints = [models.UniqueConstraint(fields=["category", "title"], name="uniq_sms_template_title")]

    def __str__(self) -> str:
        return self.title


class SignaturePlacement(models.TextChoices):
    FOOTER = "footer", _("Après le message (signature)")
    HEADER = "header", _("Avant le message (en-tête)")


class Signature(models.Model):
    label = models.CharField(_("libellé"), max_length=80, unique=True)
    body_html = models.TextField(_("contenu"), help_text=_("Mis en forme ; nettoyé à l'enregistrement."))
    placement = models.CharField(
        "position", max_length=10, choices=SignaturePlacement.choices, default=SignaturePlacement.FOOTER
    )

    class Meta:
        verbose_name = _("signature")
        verbose_name_plural = _("signatures")
        ordering = ["label"]

    def __str__(self) -> str:
        return self.label


class SmtpSecurity(models.TextChoices):
    NONE = "none", _("Aucune")
    STARTTLS = "starttls", _("STARTTLS")
    SSL = "ssl", _("SSL/TLS")


class EmailAccount(models.Model):
    """An SMTP account the practice sends from ("Mail du Dr Molaire")."""

    name = models.CharField(_("nom du compte"), max_length=80, unique=True, help_text=_("Visible uniquement ici."))
    email = models.EmailField(_("adresse email"))
    display_name = models.CharField(_("nom affiché à l'envoi"), max_length=120, blank=True, validators=[validate_header_text])
    default_signature = models.ForeignKey(
        Signature, verbose_name=_("signature par défaut"), null=True, blank=True, on_delete=models.SET_NULL
    )
    smtp_host = models.CharField(_("serveur SMTP"), max_length=255)
    smtp_port = models.PositiveIntegerField(
        "port", default=587, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    security = models.CharField(_("sécurité"), max_length=10, choices=SmtpSecurity.choices, default=SmtpSecurity.STARTTLS)
    timeout = models.PositiveSmallIntegerField(
        _("délai d'attente (s)"), default=30, validators=[MinValueValidator(1), MaxValueValidator(300)]
    )
    username = models.CharField(_("utilisateur"), max_length=255, blank=True)
    password = EncryptedTextField("mot de passe", blank=True)
    hourly_limit = models.PositiveIntegerField(
        _("envois maximum par heure"), null=True, blank=True, help_text=_("Vide : pas de limite.")
    )
    daily_limit = models.PositiveIntegerField(
        _("envois maximum par jour"), null=True, blank=True, help_text=_("Vide : pas de limite.")
    )
    active = models.BooleanField(_("actif"), default=True)
    last_test_at = models.DateTimeField(_("dernier test"), null=True, blank=True)
    last_test_ok = models.BooleanField(_("dernier test réussi"), null=True, blank=True)
    last_test_message = models.TextField(_("résultat du dernier test"), blank=True)
    # Paused while its server cannot be reached (messaging.lifecycle.account_pause): its messages
    # wait without spending attempts; dispatch tries it again at ``probe_at``.
    paused_at = models.DateTimeField(_("en pause depuis"), null=True, blank=True)
    pause_reason = models.CharField(_("raison de la pause"), max_length=500, blank=True)
    pause_reason_i18n = models.JSONField(_("raison de la pause (traduisible)"), null=True, blank=True)
    probe_at = models.DateTimeField(_("prochain essai"), null=True, blank=True)

    class Meta:
        verbose_name = _("compte email")
        verbose_name_plural = _("comptes email")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def pause_reason_shown(self) -> str:
        """``pause_reason`` in the reader's language (messaging.reasons.shown)."""
        from messaging.reasons import shown

        return shown(self.pause_reason, self.pause_reason_i18n)

    @property
    def sender_display(self) -> str:
        """ "Secrétariat du cabinet <secretariat@cabinet.fr>" for people (from_header is MIME-encoded)."""
        return f"{self.display_name} <{self.email}>" if self.display_name else self.email

    @property
    def from_header(self) -> str:
        from email.utils import formataddr

        return formataddr((self.display_name, self.email)) if self.display_name else self.email

    @property
    def password_unreadable(self) -> bool:
        """A password is stored but no configured key decrypts it (SECRET_KEY or the encryption
        keys changed without their fallback): it must be typed again."""
        return isinstance(self.password, UnreadableSecret)

    @property
    def password_unreadable_message(self) -> str:
        return gettext(
            "Compte email « %(account)s » : %(unreadable)s (Paramétrage → Comptes email). "
            "Il a été chiffré avec une clé qui n'est plus configurée."
        ) % {"account": self.name, "unreadable": gettext(UNREADABLE_MESSAGE)}

    @property
    def smtp_password(self) -> str:
        """The clear password to log in with ("" for none).

        Raises UnreadablePassword (with the French reason as its message) when the stored
        password cannot be decrypted: sending must fail with that reason, never try without it.
        """
        if self.password_unreadable:
            raise UnreadablePassword(self.password_unreadable_message)
        return self.password or ""


class UnreadablePassword(UnreadableSecretError):
    """An account's stored SMTP password cannot be decrypted; ``str()`` is the French reason."""


class EmailTemplate(models.Model):
    """An "email type": sender account, recipient role, subject and formatted body with merge
    fields, attachments and options."""

    category = models.ForeignKey(
        TemplateCategory, verbose_name=_("catégorie"), on_delete=models.PROTECT, related_name="email_templates"
    )
    label = models.CharField(_("libellé"), max_length=120)
    account = models.ForeignKey(
        EmailAccount, verbose_name=_("compte d'envoi"), on_delete=models.PROTECT, related_name="templates"
    )
    signature = models.ForeignKey(
        Signature, verbose_name=_("signature"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recipient_role = models.CharField(
        _("destinataire"), max_length=15, choices=RecipientRole.choices[:4], default=RecipientRole.PATIENT
    )
    subject = models.CharField(_("objet"), max_length=255, validators=[validate_header_text])
    body_html = models.TextField(_("message"))
    body_text = models.TextField(_("version texte"), blank=True, editable=False)
    save_sent = models.BooleanField(_("sauvegarder les emails envoyés"), default=True)
    keep_attachments = models.BooleanField(_("conserver les pièces jointes des emails envoyés"), default=False)
    read_receipt = models.BooleanField(_("accusé de lecture"), default=False)
    confirm_before_send = models.BooleanField(_("confirmation avant envoi"), default=False)
    active = models.BooleanField(_("actif"), default=True)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("email type")
        verbose_name_plural = _("emails types")
        ordering = ["category__position", "category__name", "label"]
        constraints = [models.UniqueConstraint(fields=["category", "label"], name="uniq_email_template_label")]

    def __str__(self) -> str:
        return self.label


def external_file_path(instance: ExternalFile, filename: str) -> str:
    return f"fichiers-externes/{filename}"


class ExternalFile(models.Model):
    """A file uploaded once (access map, leaflet) and attached to email types."""

    label = models.CharField(_("libellé"), max_length=120)
    file = models.FileField(_("fichier"), upload_to=external_file_path, validators=[validate_attachment])
    uploaded_at = models.DateTimeField(_("ajouté le"), auto_now_add=True)

    class Meta:
        verbose_name = _("fichier externe")
        verbose_name_plural = _("fichiers externes")
        ordering = ["label"]

    def __str__(self) -> str:
        return self.label


def uploaded_attachment_path(instance: UploadedAttachment, filename: str) -> str:
    # A folder of its own per upload: the file keeps the name the patient will see, and two
    # uploads of "ordonnance.pdf" never collide.
    return f"pieces-jointes/{uuid.uuid4().hex}/{filename}"


class UploadedAttachment(models.Model):
    """A file attached once to an email of the send window, from the staff member's computer.

    Stored when it comes in (a form error elsewhere in the window loses nothing); never public:
    ``practice.files`` serves it to staff allowed to send, while a message of the history that
    is not deleted carries it (or, before the send, while it waits in its window). The messages
    that carry it name it in their ``attachments`` (source ``upload``): kept whatever the email
    type's "conserver les pièces jointes", so a resend carries it and the history offers it.
    Files never sent are removed after ``messaging.attachments.UNUSED_UPLOAD_HOURS``."""

    file = models.FileField(_("fichier"), upload_to=uploaded_attachment_path, max_length=255,
                            validators=[validate_attachment])
    filename = models.CharField(_("nom du fichier"), max_length=200)
    size = models.PositiveIntegerField(_("taille (octets)"), default=0)
    patient = models.ForeignKey("patients.Patient", verbose_name=_("patient"), null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("ajouté par"), null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    uploaded_at = models.DateTimeField(_("ajouté le"), auto_now_add=True)
    # A message carries it: it stays as long as the history does.
    used = models.BooleanField(_("envoyé"), default=False)

    class Meta:
        verbose_name = _("pièce jointe ponctuelle")
        verbose_name_plural = _("pièces jointes ponctuelles")
        ordering = ["-uploaded_at"]

    def __str__(self) -> str:
        return self.filename


class ImagePick(models.TextChoices):
    FIRST = "first", _("Début (la plus ancienne)")
    LAST = "last", _("Fin (dernier stade)")
    MOST_RECENT = "recent", _("La plus récente")


class AttachmentRule(models.Model):
    """One attachment of an email type: a patient image chosen per patient at send time (type,
    sub-type, which one), or an external file."""

    template = models.ForeignKey(EmailTemplate, on_delete=models.CASCADE, related_name="attachments")
    external_file = models.ForeignKey(
        ExternalFile, verbose_name=_("fichier externe"), null=True, blank=True, on_delete=models.PROTECT
    )
    image_type = models.CharField(_("type d'image"), max_length=20, blank=True)
    image_subtype = models.CharField(_("sous-type"), max_length=20, blank=True)
    image_pick = models.CharField(_("étape"), max_length=10, choices=ImagePick.choices, blank=True)

    class Meta:
        verbose_name = _("pièce jointe")
        verbose_name_plural = _("pièces jointes")
        constraints = [
            models.CheckConstraint(
                condition=(Q(external_file__isnull=False) & Q(image_type=""))
                | (Q(external_file__isnull=True) & ~Q(image_type="") & ~Q(image_pick="")),
                name="attachment_rule_image_xor_file",
                violation_error_message="Une pièce jointe est soit une image du patient, soit un fichier externe.",
            )
        ]

    def __str__(self) -> str:
        if self.external_file_id:
            return str(self.external_file)
        return f"Image {self.image_type} {self.image_subtype} ({self.get_image_pick_display()})".replace("  ", " ")


class ParticularField(models.Model):
    """@PART_nn: a text that depends on the patient's sex and age ("née" / "né")."""

    number = models.PositiveSmallIntegerField(_("numéro"), unique=True, validators=[MinValueValidator(1), MaxValueValidator(99)])
    label = models.CharField(_("désignation"), max_length=120)
    girl = models.CharField(_("enfant de sexe féminin"), max_length=255, blank=True)
    boy = models.CharField(_("enfant de sexe masculin"), max_length=255, blank=True)
    woman = models.CharField(_("adulte de sexe féminin"), max_length=255, blank=True)
    man = models.CharField(_("adulte de sexe masculin"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("champ particulier")
        verbose_name_plural = _("champs particuliers")
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.code} – {self.label}"

    @property
    def code(self) -> str:
        # A form being corrected may hold an instance without its number yet.
        return f"@PART_{self.number:02d}" if self.number is not None else "@PART_??"


class FreeField(models.Model):
    """@LIBRE_nn: a text that depends on the correspondent's relationship with the practitioner
    ("Amicalement" / "Confraternellement")."""

    number = models.PositiveSmallIntegerField(_("numéro"), unique=True, validators=[MinValueValidator(1), MaxValueValidator(99)])
    label = models.CharField(_("désignation"), max_length=120)
    ami = models.CharField(_("ami"), max_length=255, blank=True)
    amie = models.CharField(_("amie"), max_length=255, blank=True)
    confrere = models.CharField(_("confrère"), max_length=255, blank=True)
    consoeur = models.CharField(_("consœur"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("champ libre")
        verbose_name_plural = _("champs libres")
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.code} – {self.label}"

    @property
    def code(self) -> str:
        # A form being corrected may hold an instance without its number yet.
        return f"@LIBRE_{self.number:02d}" if self.number is not None else "@LIBRE_??"


# ---------------------------------------------------------------------------------------------
# The outbox (issue "Sending")
# ---------------------------------------------------------------------------------------------


class MailingOrigin(models.TextChoices):
    PATIENT_FILE = "patient", _("Dossier patient")
    MASS_MAILING = "publipostage", _("Publipostage")
    CAMPAIGN = "campaign", _("Campagne")
    TREATMENT = "treatment", _("Traitement automatique")
    EVENT = "event", _("Message d'événement")
    COMMAND = "command", _("Commande d'administration")
    RESEND = "resend", _("Renvoi")
    REPLY = "reply", _("Réponse automatique")
    ANSWER = "answer", _("Réponse à un SMS reçu")


class Mailing(models.Model):
    """One request to send: who asked, when, from where, on which channel, with which template
    (as it was written at that moment). Its messages are the rows of the outbox."""

    origin = models.CharField(_("origine"), max_length=15, choices=MailingOrigin.choices)
    channel = models.CharField(_("canal"), max_length=10, choices=Channel.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("demandé par"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="mailings",
    )
    label = models.CharField(_("intitulé"), max_length=200, blank=True)
    sms_template = models.ForeignKey(SmsTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    email_template = models.ForeignKey(
        EmailTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    account = models.ForeignKey(
        EmailAccount, verbose_name=_("compte email"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    subject_source = models.CharField(_("objet (modèle)"), max_length=255, blank=True)
    body_source = models.TextField(_("message (modèle)"), blank=True)
    # Options of the email type, frozen at request time so a later edit of the template does not
    # change what happens to messages already queued.
    save_sent = models.BooleanField(_("sauvegarder les emails envoyés"), default=True)
    keep_attachments = models.BooleanField(_("conserver les pièces jointes"), default=True)
    read_receipt = models.BooleanField(_("accusé de lecture"), default=False)
    # Identifies the request so a double submission or a re-run creates no second mailing.
    idempotency_key = models.CharField(max_length=120, unique=True, null=True, blank=True)
    # Staff chose to send again a message an appointment already had for the same purpose
    # (messaging.purpose leaves such a mailing's messages alone).
    send_again = models.BooleanField(_("envoyé à nouveau sur demande"), default=False)
    # The SMS type asked for an answer when the request was made (frozen like the options
    # above): its SMS leave from the reply number and a reply is matched to them.
    asks_reply = models.BooleanField(_("réponse demandée"), default=False)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)

    class Meta:
        verbose_name = _("envoi")
        verbose_name_plural = _("envois")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.label or f"{self.get_channel_display()} – {self.get_origin_display()} ({self.created_at:%d/%m/%Y})"


class MessageStatus(models.TextChoices):
    PENDING = "pending", _("En attente")
    SENDING = "sending", _("En cours d'envoi")
    SENT = "sent", _("Envoyé")
    DELIVERED = "delivered", _("Remis")
    FAILED = "failed", _("Échec")
    CANCELLED = "cancelled", _("Annulé")
    UNKNOWN = "unknown", _("Incertain")
    SKIPPED = "skipped", _("Non envoyé")


# Statuses a message never leaves on its own (webhooks may still move SENT -> DELIVERED/FAILED).
FINAL_STATUSES = {MessageStatus.DELIVERED, MessageStatus.FAILED, MessageStatus.CANCELLED, MessageStatus.SKIPPED}


class Message(models.Model):
    """One message to one recipient on one channel: the exact text they get, and its fate."""

    # Indexes: only those in Meta (each one is written for every message of a 10,000-row mailing;
    # the ones Django adds by default to foreign keys and ``db_index`` fields duplicated them).
    mailing = models.ForeignKey(
        Mailing, on_delete=models.CASCADE, related_name="messages", verbose_name=_("envoi"), db_index=False
    )
    channel = models.CharField(_("canal"), max_length=10, choices=Channel.choices)
    # The history outlives what it mentions: deleting a patient or an appointment sets these to
    # NULL (Django's on_delete) and dispatch treats a vanished appointment as deleted. The
    # database checks the links (docs/performance.md measured what the check costs a mailing).
    patient = models.ForeignKey(
        "patients.Patient",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="messages",
        db_index=False,
    )
    appointment = models.ForeignKey(
        "patients.Appointment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="messages",
        db_index=False,  # message_purpose_idx starts with it
    )
    purpose = models.CharField(_("objet"), max_length=15, choices=Purpose.choices, default=Purpose.OTHER)
    # The appointment's start when the text was written (the text quotes it): at send time a
    # different start, or a cancelled/postponed appointment, means the text is no longer true.
    appointment_start = models.DateTimeField(_("début du rendez-vous à l'écriture"), null=True, blank=True)
    recipient_role = models.CharField(_("destinataire"), max_length=15, choices=RecipientRole.choices)
    recipient_name = models.CharField(_("nom du destinataire"), max_length=200, blank=True)
    to = models.CharField(_("adresse ou numéro"), max_length=254, blank=True)
    account = models.ForeignKey(
        EmailAccount,
        verbose_name=_("compte email"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
        db_index=False,
    )
    subject = models.CharField(_("objet"), max_length=255, blank=True)
    body = models.TextField(_("message"), blank=True)
    body_html = models.TextField(_("message (HTML)"), blank=True)
    attachments = models.JSONField(_("pièces jointes"), default=list, blank=True)
    body_kept = models.BooleanField(_("contenu conservé"), default=True)
    sms_parts = models.PositiveSmallIntegerField(_("nombre de SMS"), default=0)
    status = models.CharField(
        _("état"), max_length=10, choices=MessageStatus.choices, default=MessageStatus.PENDING
    )
    reason = models.CharField(_("raison"), max_length=500, blank=True)
    # ``reason`` as a msgid and its parameters, to show it in the reader's language
    # (messaging.reasons; None for a row written before, or a text not from the catalogue).
    reason_i18n = models.JSONField(_("raison (traduisible)"), null=True, blank=True)
    # What staff should know about a message that left anyway (an attachment rule that found
    # nothing for this patient). Kept apart from ``reason``, which dispatch rewrites and clears.
    note = models.CharField(_("remarque"), max_length=500, blank=True)
    # Staff's explicit choice to send it although required merge data was missing for its
    # recipient ("Envoyer malgré les données manquantes"): a retry of its failure keeps it.
    missing_kept = models.BooleanField(_("envoyé malgré des données manquantes"), default=False)
    error_code = models.CharField(_("code d'erreur"), max_length=40, blank=True)
    provider_id = models.CharField(_("identifiant passerelle"), max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(_("tentatives"), default=0)
    dedupe_key = models.CharField(max_length=200)
    not_before = models.DateTimeField(_("pas avant"), null=True, blank=True)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    claimed_at = models.DateTimeField(_("pris en charge le"), null=True, blank=True)
    # The dispatch run holding the claim (messaging.lifecycle): only it may hand the row over.
    claimed_by = models.CharField(_("pris en charge par"), max_length=40, blank=True)
    # Set when the message is handed to the gateway: a crash after this may have sent it (UNKNOWN),
    # a crash before it surely did not (back to PENDING).
    handed_at = models.DateTimeField(_("transmis le"), null=True, blank=True)
    sent_at = models.DateTimeField(_("envoyé le"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("remis le"), null=True, blank=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)
    hidden = models.BooleanField(_("supprimé de l'historique"), default=False)
    # Staff's explicit choice to send at once an SMS held by the quiet hours (lifecycle.send_now):
    # who and when, shown in the history and the journal. Dispatch does not hold it for the quiet
    # hours again; every other last-moment check still applies.
    send_now_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("envoi immédiat demandé par"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+", db_index=False,
    )
    send_now_at = models.DateTimeField(_("envoi immédiat demandé le"), null=True, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "not_before"], name="message_due_idx"),
            models.Index(fields=["patient", "created_at"], name="message_patient_idx"),
            # Partial: an SMS has no account, a message not yet sent no provider id; both are
            # left out of these indexes when the outbox rows are written.
            models.Index(fields=["account", "sent_at"], name="message_account_sent_idx",
                         condition=models.Q(account__isnull=False)),
            models.Index(fields=["mailing", "status"], name="message_mailing_status_idx"),
            # The purpose rule's lookup (messaging.purpose), and the appointment's messages.
            models.Index(fields=["appointment", "purpose", "channel"], name="message_purpose_idx"),
            models.Index(fields=["provider_id"], name="message_provider_idx",  # webhooks
                         condition=~models.Q(provider_id="")),
        ]
        constraints = [
            # A request written twice (double click, re-run) is refused row by row.
            models.UniqueConstraint(fields=["dedupe_key"], name="message_dedupe_key_uniq"),
        ]
        permissions = [("resend_message", "Renvoyer un message")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} à {self.recipient_name or self.to} ({self.get_status_display()})"

    @property
    def reason_shown(self) -> str:
        """``reason`` in the reader's language (messaging.reasons.shown)."""
        from messaging.reasons import shown

        return shown(self.reason, self.reason_i18n)


class CoveredAppointment(models.Model):
    """An appointment a message is about, when it is about several: one SMS to a family's
    number listing the day's appointments (a treatment's "un seul SMS par famille et par jour").

    ``Message.appointment`` is the first of them; every one (the first included) has a row here
    with its start as written, so the purpose rule (``messaging.purpose``) counts the message as
    the reminder of EACH appointment, the last-moment check re-reads each one, and a reply
    answers all of them (``messaging.replies.appointments_answered_by``)."""

    # No index of their own: the unique constraint (message, appointment) serves the lookups by
    # message, ``covered_appointment_idx`` those by appointment. The last-moment read of a
    # treatment's SMS joins this table (``messaging.purpose``): each index is one more lock to take.
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="covers", verbose_name=_("message"),
                                db_index=False)
    appointment = models.ForeignKey(
        "patients.Appointment", null=True, on_delete=models.SET_NULL, related_name="covering_messages",
        verbose_name=_("rendez-vous"), db_index=False,
    )
    appointment_start = models.DateTimeField(_("début du rendez-vous à l'écriture"), null=True)

    class Meta:
        verbose_name = _("rendez-vous d'un message groupé")
        verbose_name_plural = _("rendez-vous des messages groupés")
        indexes = [models.Index(fields=["appointment", "message"], name="covered_appointment_idx")]
        constraints = [
            models.UniqueConstraint(fields=["message", "appointment"], name="covered_message_appointment_uniq")
        ]

    def __str__(self) -> str:
        return f"Message {self.message_id} – rendez-vous {self.appointment_id}"


class ReplyKind(models.TextChoices):
    """What an SMS received says (messaging.replies.interpret)."""

    CONFIRM = "confirm", _("Confirmation")
    CANCEL = "cancel", _("Demande d'annulation")
    STOP = "stop", _("STOP")
    OTHER = "other", _("Autre")


class InboundMessage(models.Model):
    """An SMS received from a patient (reply, STOP), attached to their history when the number
    is known. ``messaging.replies.handle_inbound`` reads it once: ``kind``, the message it
    answers and whether it was handled automatically (an appointment confirmed or its
    cancellation requested, a STOP); the others are for staff (the "Réponses" inbox)."""

    from_number = models.CharField(_("de"), max_length=32)
    to_number = models.CharField(_("à"), max_length=32, blank=True)
    body = models.TextField(_("message"))
    provider_id = models.CharField(_("identifiant passerelle"), max_length=100, unique=True)
    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_messages"
    )
    # Everyone the number belongs to (a parent's mobile is on each child's file); ``patient`` is
    # the first of them.
    patients = models.ManyToManyField(
        "patients.Patient", blank=True, related_name="inbound_sms", verbose_name=_("patients concernés")
    )
    is_stop = models.BooleanField(_("demande de désinscription"), default=False)
    kind = models.CharField(_("sens de la réponse"), max_length=10, choices=ReplyKind.choices, default=ReplyKind.OTHER)
    # The last SMS that asked this number for an answer, when there was one.
    answers = models.ForeignKey(
        Message, verbose_name=_("en réponse à"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="replies", db_index=False,
    )
    handled_automatically = models.BooleanField(_("traité automatiquement"), default=False)
    received_at = models.DateTimeField(_("reçu le"), auto_now_add=True)
    # The "Réponses" page (messaging.views_replies): a reply staff have dealt with, by whom and
    # when. Both empty again when they undo it.
    handled_at = models.DateTimeField(_("traitée le"), null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("traitée par"),
    )

    class Meta:
        verbose_name = _("SMS reçu")
        verbose_name_plural = _("SMS reçus")
        ordering = ["-received_at"]
        indexes = [
            # The menu's count of replies to handle, on every page, and the page's default list.
            models.Index(fields=["-received_at"], name="inbound_to_handle_idx",
                         condition=models.Q(handled_at__isnull=True, is_stop=False)),
        ]

    def __str__(self) -> str:
        return f"SMS de {self.from_number}"


class SandboxSms(models.Model):
    """What the ``sandbox`` SMS backend "delivered": the demo's phone inbox."""

    to = models.CharField(_("à"), max_length=32, db_index=True)
    sender = models.CharField(_("expéditeur"), max_length=32, blank=True)
    body = models.TextField(_("message"))
    provider_id = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("reçu le"), auto_now_add=True)

    class Meta:
        verbose_name = _("SMS de démonstration")
        verbose_name_plural = _("SMS de démonstration")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.to}: {self.body[:40]}"


class SandboxEmail(models.Model):
    """What the demo SMTP server (``manage.py demosmtp``) received: the demo's mailbox."""

    mail_from = models.CharField(_("de"), max_length=254)
    to = models.CharField(_("à"), max_length=1000)
    subject = models.CharField(_("objet"), max_length=500, blank=True)
    text = models.TextField(_("texte"), blank=True)
    html = models.TextField(_("HTML"), blank=True)
    attachments = models.JSONField(_("pièces jointes"), default=list, blank=True)
    headers = models.JSONField(_("en-têtes"), default=dict, blank=True)
    raw = models.TextField(_("source"))
    received_at = models.DateTimeField(_("reçu le"), auto_now_add=True)

    class Meta:
        verbose_name = _("email de démonstration")
        verbose_name_plural = _("emails de démonstration")
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.to}: {self.subject[:40]}"


# ---------------------------------------------------------------------------------------------
# Mass mailings and campaigns (issue "Searches and mass mailing")
# ---------------------------------------------------------------------------------------------


class SearchDefault(models.Model):
    """The template a search used last for its mass mailings on a channel, offered first next
    time ("utiliser par défaut l'email type depuis la recherche associée")."""

    search = models.CharField(_("recherche"), max_length=30)
    channel = models.CharField(_("canal"), max_length=10, choices=Channel.choices)
    sms_template = models.ForeignKey(SmsTemplate, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    email_template = models.ForeignKey(EmailTemplate, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("modèle par défaut d'une recherche")
        verbose_name_plural = _("modèles par défaut des recherches")
        constraints = [models.UniqueConstraint(fields=["search", "channel"], name="uniq_search_default")]

    def __str__(self) -> str:
        return f"{self.search} / {self.get_channel_display()}"


class MailingDraft(models.Model):
    """A mass-mailing wizard in progress, kept on the server for its user (not in the session):
    its pages open again after logging out and in. ``data`` is ``mass_mailing.MassDraft`` as
    JSON; ``revision`` goes up at each change of it. The preview step merges the draft once per
    revision and keeps the result (``preview_revision``, ``preview_summary`` and the
    ``MailingDraftLine`` rows), so its pages read the stored lines (``messaging.mass_drafts``)."""

    key = models.CharField(_("clé"), max_length=32, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                             verbose_name=_("utilisateur"))
    data = models.JSONField(_("brouillon"))
    revision = models.PositiveIntegerField(_("version"), default=1)
    preview_revision = models.PositiveIntegerField(_("version de l'aperçu"), null=True, blank=True)
    preview_summary = models.JSONField(_("résumé de l'aperçu"), null=True, blank=True)
    preview_lines = models.PositiveIntegerField(_("lignes de l'aperçu"), default=0)
    preview_at = models.DateTimeField(_("aperçu calculé le"), null=True, blank=True)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("brouillon de publipostage")
        verbose_name_plural = _("brouillons de publipostage")

    def __str__(self) -> str:
        return f"{self.key} – {self.user}"


class MergedLine(models.Model):
    """One line of a merge kept to be paged through (``messaging.stored_lines``): a recipient and
    the exact message merged for them (``data``: what the page shows), at ``position`` in the
    merge's order."""

    position = models.PositiveIntegerField(_("rang"))
    data = models.JSONField(_("ligne"))

    class Meta:
        abstract = True


class MailingDraftLine(MergedLine):
    """One line of a draft's stored preview."""

    draft = models.ForeignKey(MailingDraft, on_delete=models.CASCADE, related_name="lines")

    class Meta:
        verbose_name = _("ligne d'aperçu de publipostage")
        verbose_name_plural = _("lignes d'aperçu de publipostage")
        constraints = [models.UniqueConstraint(fields=["draft", "position"], name="uniq_draft_line_position")]

    def __str__(self) -> str:
        return f"{self.draft_id} #{self.position}"


class SavedMessage(models.Model):
    """A campaign text kept for reuse ("messages types archivés"): a starting point, copied into
    the campaign form, never linked to the campaigns that used it."""

    name = models.CharField(_("nom"), max_length=120)
    channel = models.CharField(_("canal"), max_length=10, choices=Channel.choices[:2])
    subject = models.CharField(_("objet"), max_length=255, blank=True, validators=[validate_header_text])
    body = models.TextField(_("message"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)

    class Meta:
        verbose_name = _("message enregistré")
        verbose_name_plural = _("messages enregistrés")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["channel", "name"], name="uniq_saved_message_name")]

    def __str__(self) -> str:
        return self.name


class CampaignKind(models.TextChoices):
    CARE = "soins", _("Soins")
    NEWS = "actualites", _("Actualités")


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Brouillon")
    SCHEDULED = "scheduled", _("Programmée")
    SENDING = "sending", _("Envoyée")  # its mailing exists; the messages' statuses tell the rest
    CANCELLED = "cancelled", _("Annulée")


class Campaign(models.Model):
    """A message to a list (pasted, imported, patients, staff, or all patients), sent now or at
    ``scheduled_at``. Its recipients are stored until it is sent; sending creates one Mailing
    (origin CAMPAIGN) through the outbox like every other send."""

    name = models.CharField(_("nom de la campagne"), max_length=120)
    channel = models.CharField(_("canal"), max_length=10, choices=Channel.choices[:2])
    kind = models.CharField(_("type"), max_length=12, choices=CampaignKind.choices, default=CampaignKind.CARE)
    status = models.CharField(_("état"), max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    subject = models.CharField(_("objet"), max_length=255, blank=True, validators=[validate_header_text])
    body = models.TextField(_("message"), blank=True)
    account = models.ForeignKey(
        EmailAccount, verbose_name=_("compte d'envoi"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    all_patients = models.BooleanField(_("tous les patients"), default=False)
    # Staff's explicit choice to send also the messages whose required merge data is missing
    # (@DPREN for a number without a name...): kept with a deferred campaign until it leaves.
    keep_missing = models.BooleanField(_("envoyer malgré les données manquantes"), default=False)
    scheduled_at = models.DateTimeField(_("envoi prévu le"), null=True, blank=True)
    mailing = models.OneToOneField(
        Mailing, null=True, blank=True, on_delete=models.SET_NULL, related_name="campaign", verbose_name=_("envoi")
    )
    import_report = models.JSONField(_("rapport d'import"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    sent_at = models.DateTimeField(_("envoyée le"), null=True, blank=True)
    # Its check page ("qui recevra quoi") merged once per version of the campaign (list, texts,
    # options: ``messaging.campaign_checks``): the version merged, the counts, when; the merged
    # messages are the ``CampaignCheckLine`` rows.
    check_version = models.CharField(_("version vérifiée"), max_length=64, blank=True)
    check_summary = models.JSONField(_("résumé de la vérification"), null=True, blank=True)
    check_at = models.DateTimeField(_("vérifiée le"), null=True, blank=True)

    class Meta:
        verbose_name = _("campagne")
        verbose_name_plural = _("campagnes")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "scheduled_at"], name="campaign_due_idx")]

    def __str__(self) -> str:
        return self.name


class CampaignRecipient(models.Model):
    """One address of a campaign's list, normalised (E.164 or lower-cased email), unique within
    the campaign; ``patient`` when a patient file was chosen or the address matched exactly one."""

    class Source(models.TextChoices):
        PASTED = "pasted", _("Liste collée")
        FILE = "file", _("Fichier CSV")
        PATIENT = "patient", _("Patient")
        STAFF = "staff", _("Personnel")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    address = models.CharField(_("adresse ou numéro"), max_length=254)
    last_name = models.CharField(_("nom"), max_length=80, blank=True, validators=[validate_header_text])
    first_name = models.CharField(_("prénom"), max_length=80, blank=True, validators=[validate_header_text])
    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(_("origine"), max_length=10, choices=Source.choices)

    class Meta:
        verbose_name = _("destinataire de campagne")
        verbose_name_plural = _("destinataires de campagne")
        constraints = [models.UniqueConstraint(fields=["campaign", "address"], name="uniq_campaign_address")]

    def __str__(self) -> str:
        return self.address


class CampaignCheckLine(MergedLine):
    """One recipient of a campaign's stored check (``messaging.campaign_checks``)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="check_lines")

    class Meta:
        verbose_name = _("ligne de vérification de campagne")
        verbose_name_plural = _("lignes de vérification de campagne")
        constraints = [models.UniqueConstraint(fields=["campaign", "position"], name="uniq_campaign_check_position")]

    def __str__(self) -> str:
        return f"{self.campaign_id} #{self.position}"


class PendingDeliveryEvent(models.Model):
    """A delivery report that arrived before its message was recorded with that gateway id (the
    gateway answered faster than our write): kept, and applied by messaging.lifecycle as soon as
    a message is recorded with ``provider_id``. Never dropped with a 200."""

    gateway = models.CharField(_("passerelle"), max_length=20)
    provider_id = models.CharField(_("identifiant passerelle"), max_length=100, db_index=True)
    status = models.CharField(_("état annoncé"), max_length=20)
    error_code = models.CharField(_("code d'erreur"), max_length=40, blank=True)
    reason = models.CharField(_("raison"), max_length=500, blank=True)
    reason_i18n = models.JSONField(_("raison (traduisible)"), null=True, blank=True)
    received_at = models.DateTimeField(_("reçu le"), auto_now_add=True)

    class Meta:
        verbose_name = _("accusé de réception en attente")
        verbose_name_plural = _("accusés de réception en attente")
        ordering = ["received_at", "id"]

    def __str__(self) -> str:
        return f"{self.gateway} {self.provider_id}: {self.status}"


class GatewayCheck(models.Model):
    """The one time an SMS left "incertain" was looked up at its gateway (messaging.reconcile):
    the row's existence is what makes the check happen at most once per message."""

    class Outcome(models.TextChoices):
        FOUND = "found", _("Trouvé à la passerelle : envoyé")
        NOT_FOUND = "not_found", _("Inconnu de la passerelle : jamais parti")

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="gateway_check")
    gateway = models.CharField(_("passerelle"), max_length=20)
    outcome = models.CharField(_("résultat"), max_length=20, choices=Outcome.choices)
    provider_id = models.CharField(_("identifiant passerelle"), max_length=100, blank=True)
    checked_at = models.DateTimeField(_("vérifié le"), auto_now_add=True)

    class Meta:
        verbose_name = _("vérification à la passerelle")
        verbose_name_plural = _("vérifications à la passerelle")

    def __str__(self) -> str:
        return f"{self.message_id}: {self.get_outcome_display()}"


class LetterOrigin(models.TextChoices):
    MASS_MAILING = "mass", _("Publipostage")
    TREATMENT = "treatment", _("Traitement")


class PrintedLetter(models.Model):
    """One letter printed for one patient (by a mass mailing or a treatment run): what was on the
    page, so the patient's history lists it and staff can print that one letter again.

    Not a ``Message``: a letter never goes through the outbox, a gateway or a status, and counting
    it among a mailing's messages would change every figure of the mailing pages. Printing the
    same letter again (same origin, patient and text) adds no second line: ``dedupe_key``."""

    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.SET_NULL, related_name="printed_letters",
        db_index=False, db_constraint=False,  # like Message: the history outlives the patient
    )
    origin = models.CharField(_("origine"), max_length=10, choices=LetterOrigin.choices)
    origin_label = models.CharField(_("origine (détail)"), max_length=255, blank=True)
    template_name = models.CharField(_("modèle"), max_length=200, blank=True)
    recipient_name = models.CharField(_("destinataire"), max_length=200, blank=True)
    address_lines = models.JSONField(_("adresse"), default=list, blank=True)
    subject = models.CharField(_("objet"), max_length=255, blank=True)
    text = models.TextField(_("texte"))
    letter_date = models.DateField(_("date du courrier"))
    printed_at = models.DateTimeField(_("imprimé le"), auto_now_add=True)
    printed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("imprimé par"),
    )
    dedupe_key = models.CharField(max_length=200, unique=True)

    class Meta:
        verbose_name = _("courrier imprimé")
        verbose_name_plural = _("courriers imprimés")
        ordering = ["-printed_at", "-id"]
        indexes = [models.Index(fields=["patient", "printed_at"], name="printed_letter_patient_idx")]

    def __str__(self) -> str:
        return f"{self.recipient_name} – {self.letter_date:%d/%m/%Y}"


def letter_dedupe_key(origin: str, scope: str, patient_id: int | None, text: str, *, recipient: str = "") -> str:
    """The same letter printed twice by the same origin (one mass-mailing draft, one treatment
    run) for the same patient is one history line; an edited text is another letter.
    ``recipient`` (name and address) when a patient's letters go to several people (each of
    their correspondents): the same text to two of them is two letters."""
    import hashlib

    digest = hashlib.sha256((f"{recipient}\n{text}" if recipient else text).encode()).hexdigest()[:24]
    return f"{origin}:{scope}:{patient_id or 0}:{digest}"
