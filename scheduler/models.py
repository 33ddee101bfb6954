"""The programmeur: saved automatic jobs ("traitements"), their runs and trace, event-message
settings, and the scheduler's heartbeat.

A treatment runs at most once per run date (``TreatmentRun`` is unique per treatment and date):
that row is what makes a re-run, a retry or two clusters firing together send nothing twice.
Every message a run or an event queues is linked here (``TrackedMessage``) with the appointment's
start as it was when the message was written, so a message about an appointment that has moved or
changed state since is cancelled before it leaves (``scheduler.checks``).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from practice.validators import validate_header_text

from .windows import DateMode, Periodicity, Window, j_label, runs_on, window_error, window_for


class TreatmentKind(models.TextChoices):
    APPOINTMENTS = "appointments", _("Recherche sur les rendez-vous")
    MISSED = "missed", _("Rendez-vous manqués")
    BIRTHDAYS = "birthdays", _("Anniversaires")
    RECALL = "recall", _("Patients à rappeler")
    PLANNING = "planning", _("Planning d'activité")


# Kinds whose search is an appointment search (AppointmentCriteria); the others search patients.
APPOINTMENT_KINDS = {TreatmentKind.APPOINTMENTS, TreatmentKind.MISSED, TreatmentKind.PLANNING}


class Treatment(models.Model):
    """One saved automatic job, as the seeds' "Paramétrage" window describes it."""

    kind = models.CharField(_("traitement"), max_length=20, choices=TreatmentKind.choices)
    title = models.CharField(_("intitulé"), max_length=120, unique=True, validators=[validate_header_text])
    active = models.BooleanField(_("actif"), default=False)

    # When it runs.
    start_date = models.DateField(_("à partir du"), default=timezone.localdate)
    periodicity = models.CharField(
        _("périodicité"), max_length=20, choices=Periodicity.choices, default=Periodicity.DAILY
    )
    weekdays = models.JSONField(_("jours de la semaine"), default=list, blank=True, help_text=_("0 = lundi … 6 = dimanche"))
    month_day = models.PositiveSmallIntegerField(
        _("jour du mois"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(31)],
        help_text=_("Les mois plus courts, le traitement s'exécute le dernier jour du mois."),
    )
    skip_holidays = models.BooleanField(
        _("sauf jours fériés"),
        default=False,
        help_text=_("Jours ouvrés : ne pas s'exécuter les jours fériés (et ne pas les compter)."),
    )
    hour = models.TimeField(_("heure"), default=dt.time(7, 0), help_text=_("Heure locale du cabinet."))

    # Which days it searches.
    date_mode = models.CharField(_("période"), max_length=10, choices=DateMode.choices, default=DateMode.RELATIVE)
    offset_from = models.SmallIntegerField(
        _("de J"), default=1, validators=[MinValueValidator(-366), MaxValueValidator(366)]
    )
    offset_to = models.SmallIntegerField(
        _("à J"), default=1, validators=[MinValueValidator(-366), MaxValueValidator(366)]
    )
    working_days = models.BooleanField(
        _("compter en jours ouvrés"),
        default=False,
        help_text=_("J+1 un vendredi désigne alors le lundi, J-1 un lundi le vendredi."),
    )
    fixed_from = models.DateField(_("du"), null=True, blank=True)
    fixed_to = models.DateField(_("au"), null=True, blank=True)

    # What it searches: AppointmentCriteria or PatientCriteria JSON, without the dates (they come
    # from the window of each run).
    criteria = models.JSONField(_("critères"), default=dict, blank=True)

    # What it does with the result.
    send_sms = models.BooleanField(_("SMS"), default=False)
    sms_template = models.ForeignKey(
        "messaging.SmsTemplate", verbose_name=_("SMS type"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    send_email = models.BooleanField(_("email"), default=False)
    email_template = models.ForeignKey(
        "messaging.EmailTemplate", verbose_name=_("email type"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    email_when_no_mobile = models.BooleanField(
        _("envoyer par email aux patients sans portable"),
        default=False,
        help_text=_("Avec l'email type choisi, quand aucun portable valide n'est connu."),
    )
    send_letter = models.BooleanField(_("courrier"), default=False)
    letter_template = models.ForeignKey(
        "messaging.EmailTemplate",
        verbose_name=_("texte du courrier (email type)"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Le courrier reprend l'objet et le texte de cet email type, un patient par page."),
    )
    make_list = models.BooleanField(_("liste"), default=False, help_text=_("La liste des patients concernés, en PDF."))
    # One SMS per mobile number and day (scheduler.family): the appointments of a family that
    # fall on the same day and reach the same number leave as one SMS listing them (@RDVLISTE).
    group_family = models.BooleanField(
        _("un seul SMS par famille et par jour"),
        default=False,
        help_text=_("Les rendez-vous du même jour d'une famille (même numéro de portable) partent en un seul SMS "
        "qui les liste avec le champ @RDVLISTE (« RDV de Léo à 14h00 et d'Emma à 14h30 »)."),
    )
    staff_recipients = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("destinataires du planning"),
        blank=True,
        related_name="planning_treatments",
    )

    # Who checks it ("Vérificateurs").
    verifiers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("vérificateurs"), blank=True, related_name="verified_treatments"
    )
    verifiers_always = models.BooleanField(
        _("envoyer la trace après chaque exécution"),
        default=False,
        help_text=_("Sinon, la trace n'est envoyée qu'en cas d'échec."),
    )

    schedule = models.OneToOneField(
        "django_q.Schedule", null=True, blank=True, on_delete=models.SET_NULL, related_name="treatment", editable=False
    )
    # Since when its runs are due: a run whose time falls while the treatment was inactive (or
    # not yet created) is not "missed" (``selectors.missed_runs``). Set on each switch to active.
    active_since = models.DateTimeField(_("actif depuis"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("traitement automatique")
        verbose_name_plural = _("traitements automatiques")
        ordering = ["hour", "title"]

    def __str__(self) -> str:
        return self.title

    def clean(self):
        super().clean()
        errors: dict[str, str] = {}
        if self.periodicity == Periodicity.WEEKDAYS and not self.weekdays:
            errors["weekdays"] = gettext("Choisissez au moins un jour.")
        if self.periodicity == Periodicity.MONTHLY and not self.month_day:
            errors["month_day"] = gettext("Indiquez le jour du mois.")
        if self.date_mode == DateMode.FIXED and (self.fixed_from is None or self.fixed_to is None):
            errors["fixed_from"] = gettext("Indiquez les deux dates.")
        if window := window_error(date_mode=self.date_mode, offset_from=self.offset_from, offset_to=self.offset_to,
                                  fixed_from=self.fixed_from, fixed_to=self.fixed_to):
            errors["fixed_to" if self.date_mode == DateMode.FIXED else "offset_to"] = window
        if self.kind != TreatmentKind.PLANNING:
            if self.send_sms and self.sms_template_id is None:
                errors["sms_template"] = gettext("Choisissez le SMS type à envoyer.")
            elif self.group_family and self.send_sms and "@RDVLISTE" not in (self.sms_template.body or ""):
                errors["group_family"] = gettext(
                    "Le SMS type « %(title)s » ne contient pas @RDVLISTE : un SMS pour plusieurs "
                    "rendez-vous n'en citerait qu'un. Ajoutez @RDVLISTE au SMS type (par exemple « Rappel : "
                    "@RDVLISTE le @RDVDATE avec le @PRAT »)."
                ) % {"title": self.sms_template.title}
            if self.group_family and not self.send_sms:
                errors["group_family"] = gettext("Un seul SMS par famille : cochez l'envoi par SMS.")
            if (self.send_email or self.email_when_no_mobile) and self.email_template_id is None:
                errors["email_template"] = gettext("Choisissez l'email type à envoyer.")
            if self.send_letter and self.letter_template_id is None:
                errors["letter_template"] = gettext("Choisissez le texte du courrier.")
            if not (self.send_sms or self.send_email or self.send_letter or self.make_list):
                errors["send_sms"] = gettext("Cochez au moins un mode : SMS, email, courrier ou liste.")
            for name, problem in self._unfillable_codes().items():
                errors.setdefault(name, problem)
        if errors:
            raise ValidationError(errors)

    def _unfillable_codes(self) -> dict[str, str]:
        """field name -> why the template chosen there uses merge codes this kind can never fill:
        a birthday or a recall is about no appointment, so its appointment codes would always be
        empty (``messaging.merge.codes_without``)."""
        from messaging.merge import codes_without, field_label

        if self.kind in APPOINTMENT_KINDS:
            return {}
        used = [
            # Whole sentences per template kind, so that each language words them its own way.
            ("sms_template", self.send_sms, self.sms_template_id, lambda t: [t.body], gettext(
                "Le SMS type « %(template)s » utilise %(codes)s : un traitement « %(kind)s » ne porte sur aucun "
                "rendez-vous, ces champs resteraient vides. Choisissez un modèle sans champ de rendez-vous.")),
            ("email_template", self.send_email or self.email_when_no_mobile, self.email_template_id,
             lambda t: [t.subject, t.body_html], gettext(
                "L'email type « %(template)s » utilise %(codes)s : un traitement « %(kind)s » ne porte sur aucun "
                "rendez-vous, ces champs resteraient vides. Choisissez un modèle sans champ de rendez-vous.")),
            ("letter_template", self.send_letter, self.letter_template_id, lambda t: [t.subject, t.body_html],
             gettext("Le texte du courrier « %(template)s » utilise %(codes)s : un traitement « %(kind)s » ne porte "
                     "sur aucun rendez-vous, ces champs resteraient vides. Choisissez un modèle sans champ de "
                     "rendez-vous.")),
        ]
        problems = {}
        for name, chosen, template_id, texts, sentence in used:
            if not chosen or template_id is None:
                continue
            template = getattr(self, name)
            codes = codes_without(texts(template), appointment=False)
            if codes:
                listed = ", ".join(field_label(c) for c in codes)
                problems[name] = sentence % {"template": template, "codes": listed, "kind": self.get_kind_display()}
        return problems

    def runs_on(self, day: dt.date) -> bool:
        return runs_on(
            day,
            periodicity=self.periodicity,
            start_date=self.start_date,
            weekdays=self.weekdays or (),
            month_day=self.month_day,
            skip_holidays=self.skip_holidays,
        )

    def window(self, run_date: dt.date) -> Window:
        return window_for(
            run_date,
            date_mode=self.date_mode,
            offset_from=self.offset_from,
            offset_to=self.offset_to,
            fixed_from=self.fixed_from,
            fixed_to=self.fixed_to,
            working_days=self.working_days,
            skip_holidays=self.skip_holidays,
        )

    @property
    def period_label(self) -> str:
        if self.date_mode == DateMode.FIXED:
            if not (self.fixed_from and self.fixed_to):
                return ""
            return gettext("du %(start)s au %(end)s") % {"start": f"{self.fixed_from:%d/%m/%Y}",
                                                          "end": f"{self.fixed_to:%d/%m/%Y}"}
        j = j_label
        if self.offset_from == self.offset_to:
            label = j(self.offset_from)
        else:
            label = gettext("de %(start)s à %(end)s") % {"start": j(self.offset_from), "end": j(self.offset_to)}
        return gettext("%(period)s (jours ouvrés)") % {"period": label} if self.working_days else label

    @property
    def periodicity_label(self) -> str:
        if self.periodicity == Periodicity.WEEKDAYS:
            # Within a sentence: "Le lundi, mercredi" / "On Monday, Wednesday".
            days = ", ".join(str(WEEKDAYS_IN_TEXT[d]) for d in sorted(self.weekdays or []))
            return gettext("Le %(days)s") % {"days": days}
        if self.periodicity == Periodicity.MONTHLY:
            return gettext("Tous les mois, le %(day)s") % {"day": self.month_day}
        label = str(self.get_periodicity_display())
        if self.periodicity == Periodicity.WORKING_DAYS and self.skip_holidays:
            label = gettext("%(periodicity)s, sauf jours fériés") % {"periodicity": label}
        return label

    @property
    def channels_label(self) -> str:
        parts = []
        if self.send_sms:
            parts.append("SMS")
        if self.send_email:
            parts.append(gettext("Email"))
        elif self.email_when_no_mobile:
            parts.append(gettext("Email si pas de portable"))
        if self.send_letter:
            parts.append(gettext("Courrier"))
        if self.make_list:
            parts.append(gettext("Liste"))
        if self.kind == TreatmentKind.PLANNING:
            parts.append(gettext("Planning PDF par email"))
        return ", ".join(parts)


WEEKDAYS_IN_TEXT = [
    pgettext_lazy("dans une phrase", "lundi"),
    pgettext_lazy("dans une phrase", "mardi"),
    pgettext_lazy("dans une phrase", "mercredi"),
    pgettext_lazy("dans une phrase", "jeudi"),
    pgettext_lazy("dans une phrase", "vendredi"),
    pgettext_lazy("dans une phrase", "samedi"),
    pgettext_lazy("dans une phrase", "dimanche"),
]


class RunStatus(models.TextChoices):
    PENDING = "pending", _("En attente")
    RUNNING = "running", _("En cours")
    DONE = "done", _("Terminé")
    FAILED = "failed", _("Échec")


class RunTrigger(models.TextChoices):
    SCHEDULE = "schedule", _("Programmé")
    MANUAL = "manual", _("Exécuter maintenant")
    COMMAND = "command", _("Commande runjob")
    RESCHEDULE = "reschedule", _("Rendez-vous déplacé")


def run_document_path(instance: TreatmentRun, filename: str) -> str:
    return f"programmeur/{instance.treatment_id}/{instance.run_date:%Y-%m-%d}/{filename}"


class TreatmentRun(models.Model):
    """One execution of a treatment for one run date: the trace staff read."""

    treatment = models.ForeignKey(Treatment, on_delete=models.CASCADE, related_name="runs", verbose_name=_("traitement"))
    run_date = models.DateField(_("date d'exécution"))
    status = models.CharField(_("état"), max_length=10, choices=RunStatus.choices, default=RunStatus.PENDING)
    trigger = models.CharField(_("déclenchement"), max_length=12, choices=RunTrigger.choices, default=RunTrigger.SCHEDULE)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("demandé par"),
    )
    window_start = models.DateField(_("recherche du"), null=True, blank=True)
    window_end = models.DateField(_("recherche au"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("tentatives"), default=0)
    started_at = models.DateTimeField(_("commencé le"), null=True, blank=True)
    finished_at = models.DateTimeField(_("terminé le"), null=True, blank=True)
    targeted = models.PositiveIntegerField(_("ciblés"), default=0)
    sent = models.PositiveIntegerField(_("envoyés"), default=0)
    failed = models.PositiveIntegerField(_("échecs"), default=0)
    skipped = models.PositiveIntegerField(_("non envoyés"), default=0)
    waiting = models.PositiveIntegerField(_("en attente"), default=0)
    left_out = models.JSONField(_("écartés"), default=list, blank=True, help_text=_("[{nom, raison}]"))
    mailings = models.ManyToManyField("messaging.Mailing", blank=True, related_name="treatment_runs")
    document = models.FileField(_("document"), upload_to=run_document_path, blank=True)
    error = models.TextField(_("erreur"), blank=True)
    reported_at = models.DateTimeField(_("trace envoyée le"), null=True, blank=True)

    class Meta:
        verbose_name = _("exécution")
        verbose_name_plural = _("exécutions")
        ordering = ["-run_date", "-id"]
        constraints = [models.UniqueConstraint(fields=["treatment", "run_date"], name="uniq_treatment_run_date")]

    def __str__(self) -> str:
        return f"{self.treatment} – {self.run_date:%d/%m/%Y}"

    @property
    def document_filename(self) -> str:
        """The file name of the run's PDF, as the trace page shows it ("liste-2026-12-06.pdf"),
        without the storage folders."""
        return self.document.name.rsplit("/", 1)[-1] if self.document else ""

    @property
    def letters_name(self) -> str:
        """Storage name of the letters PDF kept beside the list when a run makes both."""
        return f"programmeur/{self.treatment_id}/{self.run_date:%Y-%m-%d}/courriers.pdf"

    @property
    def window(self) -> Window | None:
        if self.window_start is None or self.window_end is None:
            return None
        return Window(self.window_start, self.window_end)

    @property
    def has_failures(self) -> bool:
        return self.status == RunStatus.FAILED or self.failed > 0


class TrackedPurpose(models.TextChoices):
    REMINDER = "reminder", _("Rappel de rendez-vous")
    MISSED = "missed", _("Rendez-vous manqué")
    PATIENT = "patient", _("Message au patient")
    BOOKED = "booked", _("Confirmation de rendez-vous")
    MOVED = "moved", _("Rendez-vous déplacé")
    CANCELLED = "cancelled", _("Rendez-vous annulé")


class TrackedMessage(models.Model):
    """A message queued by a treatment run or an appointment event, with the appointment as it
    stood when the message was written: what ``scheduler.checks`` compares at send time."""

    message = models.OneToOneField("messaging.Message", on_delete=models.CASCADE, related_name="tracking")
    run = models.ForeignKey(TreatmentRun, null=True, blank=True, on_delete=models.CASCADE, related_name="tracked")
    purpose = models.CharField(_("objet"), max_length=10, choices=TrackedPurpose.choices)
    appointment_start = models.DateTimeField(_("début du rendez-vous à l'écriture"), null=True, blank=True)
    # Why a reminder was written after its run (scheduler.late): the appointment was booked or
    # moved into the run's window once the run was done. Empty for the run's own messages.
    catch_up = models.CharField(_("rattrapage"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("message suivi")
        verbose_name_plural = _("messages suivis")

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} (message {self.message_id})"


class AppointmentEvent(models.TextChoices):
    BOOKED = "booked", _("Rendez-vous pris (confirmation)")
    MOVED = "moved", _("Rendez-vous déplacé")
    CANCELLED = "cancelled", _("Rendez-vous annulé ou reporté")


class EventMessageSetting(models.Model):
    """Send a message when an appointment is booked, moved or cancelled, for one nature (or all)
    on one channel."""

    event = models.CharField(_("événement"), max_length=10, choices=AppointmentEvent.choices)
    nature = models.ForeignKey(
        "patients.Nature",
        verbose_name=_("nature"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        help_text=_("Vide : toutes les natures."),
    )
    channel = models.CharField(_("canal"), max_length=10, choices=[("sms", "SMS"), ("email", "Email")])
    sms_template = models.ForeignKey(
        "messaging.SmsTemplate", verbose_name=_("SMS type"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    email_template = models.ForeignKey(
        "messaging.EmailTemplate", verbose_name=_("email type"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    active = models.BooleanField(_("actif"), default=True)

    class Meta:
        verbose_name = _("message d'événement")
        verbose_name_plural = _("messages d'événement")
        ordering = ["event", "nature__code", "channel"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "nature", "channel"], name="uniq_event_nature_channel", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        nature = self.nature.code if self.nature_id else gettext("toutes natures")
        return f"{self.get_event_display()} – {nature} – {self.get_channel_display()}"

    def clean(self):
        super().clean()
        if self.channel == "sms" and self.sms_template_id is None:
            raise ValidationError({"sms_template": gettext("Choisissez le SMS type.")})
        if self.channel == "email" and self.email_template_id is None:
            raise ValidationError({"email_template": gettext("Choisissez l'email type.")})

    @property
    def template(self):
        return self.sms_template if self.channel == "sms" else self.email_template


class Heartbeat(models.Model):
    """Written every minute by a django-q2 task: proof that a cluster is running and ticking its
    scheduler, readable from the web process whatever the broker."""

    beat_at = models.DateTimeField()
    host = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("battement du programmeur")
        verbose_name_plural = _("battements du programmeur")

    def __str__(self) -> str:
        return f"{self.host}:{self.pid} à {self.beat_at:%d/%m/%Y %H:%M:%S}"
