"""The practice's people and appointments: practitioners, chairs, natures, patients, guardians,
correspondents and appointments.

Phone numbers are stored in E.164 (``+33684285560``) and shown the French way
(``06.84.28.55.60``, see ``patients.phones``). Labels are French: they are what staff read.
"""

from __future__ import annotations

import datetime as dt
import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from practice.uploads import validate_album_image
from practice.validators import validate_header_text

from .fields import PhoneField
from .phones import validate_landline, validate_mobile

ADULT_AGE = 18


def normalize_search(text: str) -> str:
    """Upper-case, accents and punctuation removed: "Hélène D'Arc" -> "HELENE D ARC"."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    cleaned = "".join(c if c.isalnum() else " " for c in stripped.upper())
    return " ".join(cleaned.split())


def age_on(birth_date: dt.date | None, day: dt.date) -> int | None:
    """Age in whole years on ``day`` (a 29 February birthday counts on 1 March in common years)."""
    if birth_date is None:
        return None
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def validate_not_future(value: dt.date) -> None:
    if value and value > timezone.localdate():
        raise ValidationError(_("La date de naissance ne peut pas être dans le futur."))


class Civility(models.TextChoices):
    DR = "Dr", _("Dr")
    M = "M.", _("M.")
    MME = "Mme", _("Mme")
    MLLE = "Mlle", _("Mlle")
    ENFANT = "Enf.", _("Enfant")
    M_MME = "M. et Mme", _("M. et Mme")


class Sex(models.TextChoices):
    FEMALE = "F", _("Féminin")
    MALE = "M", _("Masculin")


class PatientType(models.TextChoices):
    CHILD = "enfant", _("Enfant")
    ADULT = "adulte", _("Adulte")


class FileStatus(models.TextChoices):
    IN_TREATMENT = "en_traitement", _("En traitement")
    WAITING = "en_attente", _("En attente")
    PAUSED = "en_pause", _("En pause")
    SURVEILLANCE = "surveillance", _("En surveillance")
    FINISHED = "termine", _("Terminé")
    ABANDONED = "abandon", _("Abandon")
    ARCHIVED = "archive", _("Archivé")


class ContactFields(models.Model):
    """Address, email, phones and per-channel consent: shared by patients, guardians and
    correspondents so that every recipient is reached the same way."""

    address1 = models.CharField(_("adresse (ligne 1)"), max_length=120, blank=True)
    address2 = models.CharField(_("adresse (ligne 2)"), max_length=120, blank=True)
    postcode = models.CharField(_("code postal"), max_length=10, blank=True)
    city = models.CharField(_("ville"), max_length=80, blank=True)
    country = models.CharField(_("pays"), max_length=60, blank=True, default="France")
    email = models.EmailField(_("email"), blank=True)
    phone = PhoneField("téléphone", blank=True, validators=[validate_landline])
    mobile = PhoneField("portable", blank=True, validators=[validate_mobile])
    sms_consent = models.BooleanField(
        _("accepte les SMS"), default=True, help_text=_("Décocher si la personne ne souhaite pas recevoir de SMS.")
    )
    email_consent = models.BooleanField(
        _("accepte les emails"),
        default=True,
        help_text=_("Décocher si la personne ne souhaite pas être contactée par email."),
    )

    class Meta:
        abstract = True

    @property
    def address_lines(self) -> list[str]:
        city = f"{self.postcode} {self.city}".strip()
        return [line for line in (self.address1, self.address2, city) if line]


class Practitioner(models.Model):
    civility = models.CharField(_("civilité"), max_length=10, choices=Civility.choices, default=Civility.DR)
    last_name = models.CharField(_("nom"), max_length=80, validators=[validate_header_text])
    first_name = models.CharField(_("prénom"), max_length=80, validators=[validate_header_text])
    initials = models.CharField(_("initiales"), max_length=6, unique=True, help_text=_("Par exemple MM."))
    email = models.EmailField(_("email"), blank=True)
    mobile = PhoneField("portable", blank=True, validators=[validate_mobile])
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("compte utilisateur"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="practitioner",
    )
    active = models.BooleanField(_("actif"), default=True)
    color = models.CharField(_("couleur"), max_length=7, default="#0d6efd")

    class Meta:
        verbose_name = _("praticien")
        verbose_name_plural = _("praticiens")
        ordering = ["last_name", "first_name"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        """ "Dr MOLAIRE Marc", as the seeds write it."""
        return f"{self.civility} {self.last_name.upper()} {self.first_name}".strip()


class Chair(models.Model):
    code = models.CharField(_("code"), max_length=10, unique=True)
    label = models.CharField(_("libellé"), max_length=60)
    active = models.BooleanField(_("actif"), default=True)

    class Meta:
        verbose_name = _("fauteuil")
        verbose_name_plural = _("fauteuils")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.label


class Nature(models.Model):
    code = models.CharField(_("code"), max_length=20, unique=True)
    label = models.CharField(_("libellé"), max_length=100)
    default_duration = models.PositiveSmallIntegerField(
        _("durée par défaut (min)"), default=20, validators=[MinValueValidator(5), MaxValueValidator(480)]
    )
    color = models.CharField(_("couleur"), max_length=7, default="#6c757d")
    # A patient answering NON to a reminder of this nature cancels the appointment at once
    # (otherwise it is marked "annulation demandée" for staff to cancel or move).
    cancel_on_reply = models.BooleanField(
        _("annuler automatiquement sur réponse NON"), default=False,
        help_text=_("Sinon le rendez-vous est marqué « annulation demandée » et le personnel l'annule ou le déplace."),
    )

    class Meta:
        verbose_name = _("nature de rendez-vous")
        verbose_name_plural = _("natures de rendez-vous")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} – {self.label}"


class Family(models.Model):
    name = models.CharField(_("nom de la famille"), max_length=120)
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)

    class Meta:
        verbose_name = _("famille")
        verbose_name_plural = _("familles")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Guardian(ContactFields):
    """A civil or financial guardian ("responsable"). One person may be guardian of several
    patients (siblings); a patient without a guardian is responsible for themselves."""

    civility = models.CharField(_("civilité"), max_length=10, choices=Civility.choices, blank=True)
    last_name = models.CharField(_("nom"), max_length=80, validators=[validate_header_text])
    first_name = models.CharField(_("prénom"), max_length=80, blank=True, validators=[validate_header_text])
    maiden_name = models.CharField(_("nom de jeune fille"), max_length=80, blank=True, validators=[validate_header_text])
    birth_date = models.DateField(
        _("date de naissance"), null=True, blank=True, validators=[validate_not_future]
    )
    profession = models.CharField(_("profession"), max_length=80, blank=True)

    class Meta:
        verbose_name = _("responsable")
        verbose_name_plural = _("responsables")
        ordering = ["last_name", "first_name"]
        # An SMS received is matched to the guardians holding its number (messaging.webhooks).
        indexes = [models.Index(fields=["mobile"], name="guardian_mobile_idx")]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.civility, self.last_name.upper(), self.first_name) if p)


class Patient(ContactFields):
    file_number = models.CharField(_("N° de dossier"), max_length=20, unique=True)
    civility = models.CharField(_("civilité"), max_length=10, choices=Civility.choices, blank=True)
    last_name = models.CharField(_("nom"), max_length=80, validators=[validate_header_text])
    first_name = models.CharField(_("prénom"), max_length=80, validators=[validate_header_text])
    second_first_name = models.CharField(_("2e prénom"), max_length=80, blank=True, validators=[validate_header_text])
    birth_date = models.DateField(
        _("date de naissance"), null=True, blank=True, validators=[validate_not_future]
    )
    sex = models.CharField(_("sexe"), max_length=1, choices=Sex.choices, blank=True)
    patient_type = models.CharField(
        _("type de patient"),
        max_length=10,
        choices=PatientType.choices,
        blank=True,
        help_text=_("Laisser vide pour le déduire de l'âge (adulte à 18 ans)."),
    )
    file_status = models.CharField(
        _("état du dossier"), max_length=20, choices=FileStatus.choices, default=FileStatus.IN_TREATMENT
    )
    practitioner = models.ForeignKey(
        Practitioner,
        verbose_name=_("praticien"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="patients",
    )
    family = models.ForeignKey(
        Family,
        verbose_name=_("famille"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="members",
    )
    civil_guardian = models.ForeignKey(
        Guardian,
        verbose_name=_("responsable civil"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="civil_wards",
        help_text=_("Vide : le patient est son propre responsable."),
    )
    financial_guardian = models.ForeignKey(
        Guardian,
        verbose_name=_("responsable financier"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="financial_wards",
        help_text=_("Vide : le patient est son propre responsable."),
    )
    correspondents = models.ManyToManyField(
        "Correspondent", through="PatientCorrespondent", blank=True, verbose_name=_("correspondants")
    )
    remark = models.TextField(_("remarque"), blank=True)
    # News ("actualités" campaigns) is a consent of its own, separate from care messages: a patient
    # reminded of appointments has not thereby agreed to the practice's news. The date records
    # when it was last given or withdrawn (set by save() whenever the flag changes).
    news_consent = models.BooleanField(
        _("accepte les actualités du cabinet"),
        default=False,
        help_text=_("Campagnes d'information (actualités) : seulement si le patient l'a accepté."),
    )
    news_consent_at = models.DateTimeField(_("consentement aux actualités donné / retiré le"), null=True, blank=True)
    search_key = models.CharField(max_length=200, db_index=True, editable=False, default="")
    # Staff type "Élodie" or "élodie mercier" as often as "MERCIER": the same key in first-name-first
    # order, indexed like search_key, lets a prefix match serve both orders from the indexes.
    search_key_first = models.CharField(max_length=200, db_index=True, editable=False, default="")
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        ordering = ["last_name", "first_name", "id"]
        indexes = [
            models.Index(fields=["last_name", "first_name", "id"], name="patient_name_idx"),
            models.Index(fields=["mobile"], name="patient_mobile_idx"),
            models.Index(fields=["phone"], name="patient_phone_idx"),
            models.Index(fields=["birth_date"], name="patient_birth_idx"),
        ]

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args, **kwargs):
        self.set_search_keys()
        if not self.file_number:
            self.file_number = next_file_number()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and ({"last_name", "first_name"} & set(update_fields)):
            kwargs["update_fields"] = {*update_fields, "search_key", "search_key_first"}
        loaded = getattr(self, "_loaded_news_consent", None)
        news_changed = (self.news_consent != loaded) if loaded is not None else (self._state.adding and self.news_consent)
        if news_changed:
            self.news_consent_at = timezone.now()
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "news_consent_at"}
        super().save(*args, **kwargs)
        self._loaded_news_consent = self.news_consent

    def get_absolute_url(self) -> str:
        return reverse("patients:detail", args=[self.pk])

    def unique_error_message(self, model_class, unique_check):
        # Staff need to know whose file holds the number (to open it or pick another), not
        # Django's "Un objet Patient avec ce champ … existe déjà". Forms, services and the admin
        # all reach this through validate_unique().
        if model_class is Patient and tuple(unique_check) == ("file_number",):
            others = Patient.objects.filter(file_number=self.file_number)
            other = (others.exclude(pk=self.pk) if self.pk else others).first()
            if other is not None:
                return ValidationError(
                    _("Ce numéro de dossier est déjà utilisé par %(display_name)s.") % {"display_name": other.display_name}, code="unique"
                )
        return super().unique_error_message(model_class, unique_check)

    def set_search_keys(self) -> None:
        """Fill both search keys from the names; every path that skips save() (bulk_create in the
        demo seed, the data migration) calls this so the keys never drift from the names."""
        self.search_key = normalize_search(f"{self.last_name} {self.first_name}")[:200]
        self.search_key_first = normalize_search(f"{self.first_name} {self.last_name}")[:200]

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # Remember the stored news consent so save() can date a change of it.
        instance._loaded_news_consent = instance.__dict__.get("news_consent")
        return instance

    @property
    def display_name(self) -> str:
        """ "ZIMMER Alexis": the way the seeds list patients."""
        return f"{self.last_name.upper()} {self.first_name}".strip()

    def age(self, day: dt.date | None = None) -> int | None:
        return age_on(self.birth_date, day or timezone.localdate())

    def effective_type(self, day: dt.date | None = None) -> str:
        """The patient type as set, or derived from the age (child under 18)."""
        if self.patient_type:
            return self.patient_type
        age = self.age(day)
        if age is not None and age < ADULT_AGE:
            return PatientType.CHILD
        return PatientType.ADULT

    def get_effective_type_display(self) -> str:
        return PatientType(self.effective_type()).label

    def civil_responsible(self):
        """The civil guardian, or the patient when they are their own guardian."""
        return self.civil_guardian or self

    def financial_responsible(self):
        return self.financial_guardian or self

    def family_members(self):
        if not self.family_id:
            return Patient.objects.none()
        return self.family.members.exclude(pk=self.pk).order_by("birth_date", "first_name")


def next_file_number() -> str:
    """The next free numeric file number (highest numeric one + 1)."""
    from django.db.models.functions import Cast, Length

    last = (
        Patient.objects.filter(file_number__regex=r"^[0-9]+$")
        .annotate(n_len=Length("file_number"), n=Cast("file_number", models.BigIntegerField()))
        .order_by("-n_len", "-n")
        .values_list("n", flat=True)
        .first()
    )
    return str((last or 0) + 1)


class CorrespondentRelationship(models.TextChoices):
    AMI = "ami", _("Ami")
    AMIE = "amie", _("Amie")
    CONFRERE = "confrere", _("Confrère")
    CONSOEUR = "consoeur", _("Consœur")


class Correspondent(ContactFields):
    """A dentist or doctor the practice writes to about its patients."""

    civility = models.CharField(_("civilité"), max_length=10, choices=Civility.choices, default=Civility.DR)
    last_name = models.CharField(_("nom"), max_length=80, validators=[validate_header_text])
    first_name = models.CharField(_("prénom"), max_length=80, blank=True, validators=[validate_header_text])
    specialty = models.CharField(_("spécialité"), max_length=80, blank=True, help_text=_("Dentiste, médecin…"))

    class Meta:
        verbose_name = _("correspondant")
        verbose_name_plural = _("correspondants")
        ordering = ["last_name", "first_name"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.civility, self.last_name.upper(), self.first_name) if p)

    def relationship_with(self, practitioner: Practitioner | None) -> str:
        """The relationship code (ami, amie, confrere, consoeur) with ``practitioner``, or ""."""
        if practitioner is None:
            return ""
        for link in self.relationships.all():
            if link.practitioner_id == practitioner.pk:
                return link.relationship
        return ""


class CorrespondentLink(models.Model):
    """How one practitioner relates to one correspondent: drives "Amicalement" vs
    "Confraternellement" in the free merge fields."""

    correspondent = models.ForeignKey(
        Correspondent, on_delete=models.CASCADE, related_name="relationships", verbose_name=_("correspondant")
    )
    practitioner = models.ForeignKey(
        Practitioner, on_delete=models.CASCADE, related_name="correspondent_links", verbose_name=_("praticien")
    )
    relationship = models.CharField(_("relation"), max_length=10, choices=CorrespondentRelationship.choices)

    class Meta:
        verbose_name = _("relation avec un praticien")
        verbose_name_plural = _("relations avec les praticiens")
        constraints = [
            models.UniqueConstraint(
                fields=["correspondent", "practitioner"], name="uniq_correspondent_practitioner"
            )
        ]

    def __str__(self) -> str:
        return f"{self.practitioner} / {self.correspondent}: {self.get_relationship_display()}"


class PatientCorrespondent(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="correspondent_links")
    correspondent = models.ForeignKey(Correspondent, on_delete=models.CASCADE, related_name="patient_links")
    role = models.CharField(_("rôle"), max_length=60, blank=True, default="Dentiste traitant")

    class Meta:
        verbose_name = _("correspondant du patient")
        verbose_name_plural = _("correspondants du patient")
        constraints = [
            models.UniqueConstraint(fields=["patient", "correspondent"], name="uniq_patient_correspondent")
        ]

    def __str__(self) -> str:
        return f"{self.correspondent} ({self.role})"


class AppointmentState(models.TextChoices):
    FUTURE = "futur", _("Futur")
    PRESENT = "present", _("Présent")
    MISSED = "manque", _("Manqué")
    POSTPONED = "reporte", _("Reporté")
    CANCELLED = "annule", _("Annulé")
    EXCUSED = "excuse", _("Excusé")


class CancelledBy(models.TextChoices):
    PRACTICE = "cabinet", _("Par le cabinet")
    PATIENT = "patient", _("Par le patient")


class Appointment(models.Model):
    patient = models.ForeignKey(
        Patient,
        verbose_name=_("patient"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="appointments",
    )
    external_name = models.CharField(
        _("personne externe"), max_length=120, blank=True, help_text=_("Pour un rendez-vous sans dossier patient.")
    )
    practitioner = models.ForeignKey(
        Practitioner, verbose_name=_("praticien"), on_delete=models.PROTECT, related_name="appointments"
    )
    chair = models.ForeignKey(
        Chair,
        verbose_name=_("fauteuil"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="appointments",
    )
    nature = models.ForeignKey(
        Nature,
        verbose_name=_("nature"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="appointments",
    )
    start = models.DateTimeField(_("début"))
    duration = models.PositiveSmallIntegerField(
        _("durée (min)"), default=20, validators=[MinValueValidator(5), MaxValueValidator(480)]
    )
    state = models.CharField(
        _("état"), max_length=10, choices=AppointmentState.choices, default=AppointmentState.FUTURE
    )
    cancelled_by = models.CharField(
        _("annulé / reporté"), max_length=10, choices=CancelledBy.choices, blank=True
    )
    urgent = models.BooleanField(_("urgence"), default=False)
    forced = models.BooleanField(_("forcé"), default=False)
    external = models.BooleanField(_("externe"), default=False)
    remark = models.CharField(_("remarque"), max_length=255, blank=True)
    # Set by the patient's SMS answer (messaging.replies); both are cleared when the appointment
    # is moved (the answer was about the old time). The history is in ``events``.
    confirmed_at = models.DateTimeField(_("confirmé par SMS le"), null=True, blank=True)
    cancel_requested_at = models.DateTimeField(_("annulation demandée le"), null=True, blank=True)
    created_at = models.DateTimeField(_("pris le"), default=timezone.now)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("rendez-vous")
        verbose_name_plural = _("rendez-vous")
        ordering = ["start"]
        indexes = [
            models.Index(fields=["start"], name="appt_start_idx"),
            models.Index(fields=["state", "start"], name="appt_state_start_idx"),
            models.Index(fields=["practitioner", "start"], name="appt_prat_start_idx"),
            models.Index(fields=["patient", "start"], name="appt_patient_start_idx"),
            models.Index(fields=["created_at"], name="appt_created_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(patient__isnull=False) | ~Q(external_name=""),
                name="appt_patient_or_external",
                violation_error_message="Un rendez-vous concerne un patient ou une personne externe.",
            ),
        ]

    def __str__(self) -> str:
        local = timezone.localtime(self.start)
        return f"{self.who} – {local:%d/%m/%Y} {local:%H}h{local:%M}"

    def save(self, *args, **kwargs):
        loaded = getattr(self, "_loaded_start", None)
        if loaded is not None and self.start != loaded and (self.confirmed_at or self.cancel_requested_at):
            # The patient's answer was about the old time: moved, it is neither confirmed nor
            # asked to be cancelled any more (the history keeps what was said).
            self.confirmed_at = self.cancel_requested_at = None
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "confirmed_at", "cancel_requested_at"}
        super().save(*args, **kwargs)
        self._loaded_start = self.start

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # Remember the stored start so save() knows a move (see ``confirmed_at``).
        instance._loaded_start = instance.__dict__.get("start")
        return instance

    @property
    def who(self) -> str:
        return self.patient.display_name if self.patient_id else self.external_name

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(minutes=self.duration)

    def clean(self):
        super().clean()
        if not self.patient_id and not self.external_name:
            raise ValidationError(_("Choisissez un patient ou indiquez le nom d'une personne externe."))
        if self.state in (AppointmentState.CANCELLED, AppointmentState.POSTPONED) and not self.cancelled_by:
            raise ValidationError(
                {"cancelled_by": _("Indiquez si l'annulation vient du cabinet ou du patient.")}
            )
        if self.state not in (AppointmentState.CANCELLED, AppointmentState.POSTPONED):
            self.cancelled_by = ""


class AppointmentEventKind(models.TextChoices):
    CONFIRMED = "confirmed", _("Confirmé par SMS")
    CANCEL_REQUESTED = "cancel_req", _("Annulation demandée par SMS")
    CANCELLED = "cancelled", _("Annulé automatiquement (réponse SMS)")


class AppointmentEvent(models.Model):
    """One line of an appointment's history written by the patient's answer: when, what, and
    the SMS itself (its text is kept here even if the SMS record goes)."""

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("évènement"), max_length=12, choices=AppointmentEventKind.choices)
    at = models.DateTimeField(_("le"), default=timezone.now)
    text = models.TextField(_("SMS reçu"), blank=True)
    inbound = models.ForeignKey(
        "messaging.InboundMessage", verbose_name=_("SMS reçu"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="appointment_events",
    )

    class Meta:
        verbose_name = _("historique du rendez-vous")
        verbose_name_plural = _("historique des rendez-vous")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return gettext("%(kind)s le %(when)s") % {
            "kind": self.get_kind_display(), "when": date_format(timezone.localtime(self.at), gettext("d/m/Y à H\\hi"))}


class ImageType(models.TextChoices):
    PANORAMIC = "panoramique", _("Panoramique")
    INTRAORAL = "intra_orale", _("Intra-orale")
    EXTRAORAL = "extra_orale", _("Extra-orale")
    CEPHALOMETRIC = "teleradio", _("Téléradiographie")
    MOULAGE = "moulage", _("Moulage")
    OTHER = "autre", _("Autre")


class ImageSubtype(models.TextChoices):
    NONE = "", "—"
    FACE = "face", _("Face")
    RIGHT = "droite", _("Droite")
    LEFT = "gauche", _("Gauche")
    PROFILE = "profil", _("Profil")
    SMILE = "sourire", _("Sourire")
    UPPER = "maxillaire", _("Maxillaire")
    LOWER = "mandibule", _("Mandibule")


class ImageStage(models.TextChoices):
    INITIAL = "initial", _("Bilan initial")
    IN_PROGRESS = "en_cours", _("En cours de traitement")
    FINAL = "final", _("Fin de traitement")
    FOLLOW_UP = "controle", _("Contrôle")


def patient_image_path(instance: PatientImage, filename: str) -> str:
    return f"patients/{instance.patient_id}/images/{filename}"


class PatientImage(models.Model):
    """One image of the patient's album (X-ray, photo, cast scan), usable as an email attachment."""

    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="images", verbose_name=_("patient")
    )
    file = models.FileField(_("fichier"), upload_to=patient_image_path, validators=[validate_album_image])
    image_type = models.CharField(_("type"), max_length=20, choices=ImageType.choices)
    subtype = models.CharField(_("sous-type"), max_length=20, choices=ImageSubtype.choices, blank=True)
    stage = models.CharField(_("stade"), max_length=20, choices=ImageStage.choices, default=ImageStage.INITIAL)
    taken_on = models.DateField(_("date de prise"), default=timezone.localdate)
    label = models.CharField(_("légende"), max_length=120, blank=True)
    uploaded_at = models.DateTimeField(_("ajoutée le"), auto_now_add=True)

    class Meta:
        verbose_name = _("image du patient")
        verbose_name_plural = _("images du patient")
        ordering = ["-taken_on", "-uploaded_at"]
        indexes = [models.Index(fields=["patient", "image_type", "taken_on"], name="patient_image_idx")]

    def __str__(self) -> str:
        return gettext("%(type)s du %(day)s") % {"type": self.get_image_type_display(),
                                                  "day": f"{self.taken_on:%d/%m/%Y}"}


class SearchSelection(models.Model):
    """The rows ticked in one run of a search ("Recherches"), kept on the server: a search may
    return 100,000 rows, which no form can carry one field each. With ``all_rows`` the selection
    is every row the search returns except its ``rows`` (unticked by hand); without, it is its
    ``rows`` only (ticked by hand). It belongs to one user and one set of criteria, and is purged
    ``patients.selection.LIFETIME`` after its last use (``patients.selection``)."""

    key = models.CharField(_("clé"), max_length=32, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("utilisateur"))
    search = models.CharField(_("recherche"), max_length=20)  # "rendez-vous" or "patients"
    criteria = models.JSONField(_("critères"))  # AppointmentCriteria / PatientCriteria .to_json()
    all_rows = models.BooleanField(_("toutes les lignes sauf les exceptions"), default=True)
    total = models.PositiveIntegerField(_("lignes trouvées"), default=0)  # at the last page shown
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("utilisée le"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("sélection d'une recherche")
        verbose_name_plural = _("sélections des recherches")

    def __str__(self) -> str:
        return f"{self.search} – {self.user} – {self.created_at:%d/%m/%Y %H:%M}"


class SearchSelectionRow(models.Model):
    """One exception of a selection: a row unticked (``all_rows``) or ticked (otherwise) by hand.
    ``row_id`` is an appointment's or a patient's id, as the search returns them."""

    selection = models.ForeignKey(SearchSelection, on_delete=models.CASCADE, related_name="rows")
    row_id = models.BigIntegerField(_("ligne"))

    class Meta:
        verbose_name = _("ligne d'une sélection")
        verbose_name_plural = _("lignes des sélections")
        constraints = [models.UniqueConstraint(fields=["selection", "row_id"], name="unique_selection_row")]

    def __str__(self) -> str:
        return str(self.row_id)
