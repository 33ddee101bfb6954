from __future__ import annotations

import datetime

from django.conf import settings
from django.core.cache import cache
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy

from patients.fields import PhoneField

from .validators import validate_header_text, validate_sms_sender_name


class Practice(models.Model):
    CACHE_KEY = "practice:singleton"

    """The practice itself: one row (``Practice.get()``), edited in the admin and the settings pages."""

    name = models.CharField(gettext_lazy("nom du cabinet"), max_length=120, default="Cabinet dentaire", validators=[validate_header_text])
    address1 = models.CharField(gettext_lazy("adresse"), max_length=120, blank=True)
    address2 = models.CharField(gettext_lazy("complément d'adresse"), max_length=120, blank=True)
    postcode = models.CharField(gettext_lazy("code postal"), max_length=10, blank=True)
    city = models.CharField(gettext_lazy("ville"), max_length=80, blank=True)
    phone = PhoneField("téléphone", blank=True)
    email = models.EmailField(gettext_lazy("email"), blank=True)
    website = models.URLField(gettext_lazy("site web"), blank=True)
    time_zone = models.CharField(gettext_lazy("fuseau horaire"), max_length=64, default="Europe/Paris")
    # The interface's language for whoever has not chosen one (StaffPreference), and on the login
    # page before anyone signs in; empty: settings.LANGUAGE_CODE. The browser's Accept-Language is
    # never read (a shared reception computer set up in English must still show French).
    language = models.CharField(
        gettext_lazy("langue de l'interface par défaut"), max_length=8, choices=settings.LANGUAGES, blank=True,
        help_text=gettext_lazy("Vide : celle du serveur (LANGUAGE_CODE, le français sauf réglage contraire). "
        "Chaque utilisateur peut choisir la sienne (menu de son nom, « Langue »)."),
    )

    # SMS settings ("Paramétrage SMS" of the seed).
    sms_sender_name = models.CharField(
        gettext_lazy("nom d'expéditeur des SMS"),
        max_length=11,
        blank=True,
        validators=[validate_sms_sender_name],
        help_text=gettext_lazy("1 à 11 caractères, commence par une lettre ; lettres sans accent, chiffres et espaces."),
    )
    sms_warn_over_160 = models.BooleanField(gettext_lazy("avertir au-delà de 160 caractères"), default=True)
    sms_default_patient = models.BooleanField(gettext_lazy("SMS coché par défaut : patient"), default=True)
    sms_default_civil_guardian = models.BooleanField(gettext_lazy("SMS coché par défaut : responsable civil"), default=True)
    sms_default_financial_guardian = models.BooleanField(
        gettext_lazy("SMS coché par défaut : responsable financier"), default=False
    )
    # Decent hours: no SMS leaves between quiet_start and quiet_end (local time).
    quiet_start = models.TimeField(gettext_lazy("début des heures de silence"), default=datetime.time(20, 0))
    quiet_end = models.TimeField(gettext_lazy("fin des heures de silence"), default=datetime.time(8, 0))
    # One message per appointment, purpose and channel within this many days, whatever the route
    # (messaging.purpose): a second reminder is skipped unless staff choose to send it again.
    purpose_period_days = models.PositiveSmallIntegerField(
        gettext_lazy("délai sans second message pour le même rendez-vous (jours)"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text=gettext_lazy("Un rendez-vous ne reçoit qu'un rappel (une confirmation, une relance…) par canal pendant ce délai."),
    )

    # The price of one SMS part, per gateway short name ({"ovh": "0.0725"}): a contract figure the
    # practice's administrator knows and changes on the "Paramétrage SMS" page; kept per gateway
    # so that switching from Twilio to OVH never estimates with the other contract's price.
    sms_prices = models.JSONField(gettext_lazy("prix d'une partie de SMS par passerelle (€)"), default=dict, blank=True)
    # Merged names ("Anaïs") with their letters outside GSM-7 replaced ("Anais"): a single "ï"
    # turns a 1-SMS message into a 3-SMS one (UCS-2). Names only, never the template's own text.
    # The sender of the SMS that ask for an answer, per gateway short name: an alphanumeric
    # sender name cannot receive SMS. Twilio: a Twilio number (+33...) or a Messaging Service
    # (MG...); OVH: a virtual number, or "senderForResponse" (one of OVH's numbers).
    sms_reply_senders = models.JSONField(gettext_lazy("numéro de réponse par passerelle"), default=dict, blank=True)
    # Answer "Merci, votre RDV du 07/12 à 10h10 est confirmé." to a confirmation, once.
    sms_reply_ack = models.BooleanField(
        gettext_lazy("accuser réception des confirmations par SMS"), default=False,
        help_text=gettext_lazy("« Merci, votre RDV du 07/12 à 10h10 est confirmé. » : une fois par rendez-vous, hors heures de silence."),
    )
    sms_gsm_names = models.BooleanField(
        gettext_lazy("remplacer les lettres accentuées hors GSM-7 dans les noms"), default=False,
        help_text=gettext_lazy("« Anaïs » part en « Anais » : le SMS reste en GSM-7 (160 caractères par SMS au lieu de 70)."),
    )

    class Meta:
        verbose_name = gettext_lazy("cabinet")
        verbose_name_plural = gettext_lazy("cabinet")
        permissions = [
            ("configure_practice", "Paramétrer le cabinet (comptes, modèles, champs)"),
            ("send_messages", "Envoyer des SMS et des emails"),
            ("use_scheduler", "Utiliser le programmeur"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)
        cache.delete(self.CACHE_KEY)

    @classmethod
    def get(cls) -> Practice:
        """The practice row, created with defaults the first time it is asked for."""
        obj = cache.get(cls.CACHE_KEY)
        if obj is None:
            obj, _ = cls.objects.get_or_create(pk=1)
            cache.set(cls.CACHE_KEY, obj, 60)
        return obj

    @property
    def address_line(self) -> str:
        parts = [self.address1, self.address2, f"{self.postcode} {self.city}".strip()]
        return ", ".join(p for p in parts if p)


class StaffPreference(models.Model):
    """A staff member's own choices, kept with their account: today the interface's language
    (empty: the practice's default). Read at login into the session (practice.i18n)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference", verbose_name=gettext_lazy("utilisateur")
    )
    language = models.CharField(
        gettext_lazy("langue de l'interface"), max_length=8, choices=settings.LANGUAGES, blank=True,
        help_text=gettext_lazy("Vide : la langue par défaut du cabinet."),
    )

    class Meta:
        verbose_name = gettext_lazy("préférence d'utilisateur")
        verbose_name_plural = gettext_lazy("préférences d'utilisateur")

    def __str__(self) -> str:
        return str(self.user)
