"""Merge fields ("champs d'intégration"): the catalog and the renderer.

User-written templates are data, never code: the renderer only replaces the ``@CODE`` tokens of
the catalog (built-in codes, then the practice's ``@PART_nn`` and ``@LIBRE_nn``) by plain strings.
Nothing else in the text is interpreted, so ``{{ settings.SECRET_KEY }}`` or ``{% debug %}`` come
out exactly as typed. At each ``@`` the longest known code wins, so ``@PPREN@PNOM`` works without
the space the old product needed. Values are computed lazily, only for the codes a text uses, so
rendering a reminder does not query what it does not show.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from django.utils.functional import cached_property  # no lock: cheaper per recipient
from django.utils.html import escape
from django.utils.translation import gettext, gettext_lazy, gettext_noop

from patients.phones import format_fr

from .reasons import Why
from .sms import to_gsm

# The picker's labels follow the staff member's language (lazy: shown in the request's language,
# serialised to the picker's JSON as such); the codes never change.
CATEGORIES = [
    ("principaux", gettext_lazy("Principaux")),
    ("patient", gettext_lazy("Patient")),
    ("rendez-vous", gettext_lazy("Rendez-vous")),
    ("praticien", gettext_lazy("Praticien")),
    ("cabinet", gettext_lazy("Cabinet")),
    ("responsables", gettext_lazy("Responsables")),
    ("correspondant", gettext_lazy("Correspondant")),
    ("destinataire", gettext_lazy("Destinataire")),
    ("particuliers", gettext_lazy("Champs particuliers")),
    ("libres", gettext_lazy("Champs libres")),
]
_CATEGORY_LABELS = dict(CATEGORIES)


@dataclass(frozen=True)
class FieldDef:
    """A merge field of the picker. ``label`` is the practice's own text for its custom fields;
    for the built-in ones, ``source`` is the French label and ``label`` its translation in the
    active language (computed when read: the catalogue is built once, at import)."""

    code: str
    source: str
    category: str
    principal: bool = False
    keywords: str = ""
    translated: bool = False

    @property
    def label(self) -> str:
        return gettext(self.source) if self.translated else self.source

    @property
    def category_label(self) -> str:
        return str(_CATEGORY_LABELS.get(self.category, self.category))


def _f(code, label, category, principal=False, keywords=""):
    # ``label`` is marked with gettext_noop at each call, for the catalogue.
    return FieldDef(code, label, category, principal, keywords, translated=True)


BUILTIN_FIELDS: list[FieldDef] = [
    # Patient (the seed's list first).
    _f("@AGPAT", gettext_noop("Âge du patient"), "patient", keywords="age ans"),
    _f("@MAIL_PAT", gettext_noop("Adresse mail du patient"), "patient", True, "email courriel"),
    _f("@PADR1", gettext_noop("Adresse 1ère ligne du patient"), "patient", keywords="adresse rue"),
    _f("@PADR2", gettext_noop("Adresse 2ème ligne du patient"), "patient", keywords="adresse complement"),
    _f("@PCIVIL", gettext_noop("Civilité du patient"), "patient", True, "madame monsieur"),
    _f("@PCPOST", gettext_noop("Code postal du patient"), "patient", keywords="adresse cp"),
    _f("@PNOM", gettext_noop("Nom du patient"), "patient", True, "nom famille"),
    _f("@PORT_PAT", gettext_noop("Numéro de portable du patient"), "patient", keywords="mobile telephone"),
    _f("@PPREN", gettext_noop("Prénom du patient"), "patient", True, "prenom"),
    _f("@PPREN2", gettext_noop("Deuxième prénom du patient"), "patient", keywords="prenom"),
    _f("@PSEXE", gettext_noop("Sexe du patient"), "patient"),
    _f("@PTYPE", gettext_noop("Type du patient (enfant, adulte)"), "patient", keywords="enfant adulte"),
    _f("@PVILLE", gettext_noop("Ville / Commune du patient"), "patient", keywords="adresse commune"),
    _f("@TEL_PAT", gettext_noop("Numéro de téléphone du patient"), "patient", keywords="telephone fixe"),
    _f("@PDOSS", gettext_noop("Numéro de dossier du patient"), "patient", True, "dossier numero"),
    _f("@PNAIS", gettext_noop("Date de naissance du patient"), "patient", keywords="naissance anniversaire"),
    # The appointment the message is about, and the next one.
    _f("@RDV1", gettext_noop("Date et heure du rendez-vous (02/10/2019 à 11h00)"), "rendez-vous", True, "rdv date heure"),
    _f("@RDVDATE", gettext_noop("Date du rendez-vous (02/10/2019)"), "rendez-vous", keywords="rdv jour"),
    _f("@RDVJOUR", gettext_noop("Date du rendez-vous en toutes lettres (mercredi 2 octobre 2019)"), "rendez-vous", keywords="rdv"),
    _f("@RDVHEURE", gettext_noop("Heure du rendez-vous (11h00)"), "rendez-vous", keywords="rdv horaire"),
    _f("@RDVPRAT", gettext_noop("Praticien du rendez-vous"), "rendez-vous", keywords="rdv docteur dentiste"),
    _f("@RDVFAUT", gettext_noop("Fauteuil du rendez-vous"), "rendez-vous", keywords="rdv salle"),
    _f("@RDVNAT", gettext_noop("Nature du rendez-vous"), "rendez-vous", keywords="rdv motif acte"),
    _f("@RDVDUREE", gettext_noop("Durée du rendez-vous (en minutes)"), "rendez-vous", keywords="rdv"),
    _f("@PROCHRDV", gettext_noop("Date et heure du prochain rendez-vous"), "rendez-vous", keywords="rdv suivant prochain"),
    _f("@RDVLISTE", gettext_noop("Rendez-vous du SMS, un ou plusieurs (RDV de Léo à 14h00 et d'Emma à 14h30) : "
                                 "pour un seul SMS par famille et par jour"),
       "rendez-vous", keywords="rdv liste famille enfants groupe"),
    # Practitioner: the appointment's, else the patient's own.
    _f("@PRAT", gettext_noop("Praticien (Dr MOLAIRE Marc)"), "praticien", True, "docteur dentiste"),
    _f("@PRATNOM", gettext_noop("Nom du praticien"), "praticien", keywords="docteur"),
    _f("@PRATPREN", gettext_noop("Prénom du praticien"), "praticien", keywords="docteur"),
    # Practice and date.
    _f("@CABNOM", gettext_noop("Nom du cabinet"), "cabinet", True, "cabinet"),
    _f("@CABTEL", gettext_noop("Téléphone du cabinet"), "cabinet", True, "telephone"),
    _f("@CABADR", gettext_noop("Adresse du cabinet"), "cabinet", keywords="adresse"),
    _f("@CABMAIL", gettext_noop("Email du cabinet"), "cabinet", keywords="courriel"),
    _f("@DATEJ", gettext_noop("Date du jour (26/11/2019)"), "principaux", True, "aujourd'hui date"),
    _f("@DATEJL", gettext_noop("Date du jour en toutes lettres"), "principaux", keywords="aujourd'hui date"),
    # Guardians (the patient when they are their own guardian).
    _f("@RCCIVIL", gettext_noop("Civilité du responsable civil"), "responsables", keywords="parent"),
    _f("@RCNOM", gettext_noop("Nom du responsable civil"), "responsables", keywords="parent"),
    _f("@RCPREN", gettext_noop("Prénom du responsable civil"), "responsables", keywords="parent"),
    _f("@RFCIVIL", gettext_noop("Civilité du responsable financier"), "responsables", keywords="payeur"),
    _f("@RFNOM", gettext_noop("Nom du responsable financier"), "responsables", keywords="payeur"),
    _f("@RFPREN", gettext_noop("Prénom du responsable financier"), "responsables", keywords="payeur"),
    # Correspondent.
    _f("@CORTITRE", gettext_noop("Correspondant (Dr DUPUIS Henri)"), "correspondant", keywords="confrere medecin"),
    _f("@CORCIVIL", gettext_noop("Civilité du correspondant"), "correspondant", keywords="confrere"),
    _f("@CORNOM", gettext_noop("Nom du correspondant"), "correspondant", keywords="confrere"),
    _f("@CORPREN", gettext_noop("Prénom du correspondant"), "correspondant", keywords="confrere"),
    # Whoever receives this message (patient, guardian or correspondent).
    _f("@DCIVIL", gettext_noop("Civilité du destinataire"), "destinataire", keywords="bonjour"),
    _f("@DNOM", gettext_noop("Nom du destinataire"), "destinataire", keywords="bonjour"),
    _f("@DPREN", gettext_noop("Prénom du destinataire"), "destinataire", keywords="bonjour"),
]
_BUILTIN_CODES = {f.code: f for f in BUILTIN_FIELDS}
_CUSTOM_RE = re.compile(r"^@(PART|LIBRE)_?(\d{1,2})$")
# What looks like a merge code: "@" then an upper-case letter, then upper-case letters, digits,
# "_" or "-". Lower-case "@" uses (emails, "@bientôt") are plain text.
_TOKEN_RE = re.compile(r"@[A-Z][A-Z0-9_-]*")

_MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"]
_DAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]


# Formatted from the numbers rather than with strftime: a mailing formats thousands of dates.
def format_date(day: dt.date | None) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year}" if day else ""


def format_long_date(day: dt.date | None) -> str:
    if not day:
        return ""
    number = "1er" if day.day == 1 else str(day.day)
    return f"{_DAYS[day.weekday()]} {number} {_MONTHS[day.month - 1]} {day.year}"


def format_time(moment: dt.datetime | dt.time | None) -> str:
    return f"{moment.hour:02d}h{moment.minute:02d}" if moment else ""


def practice_tz(practice=None) -> dt.tzinfo:
    if practice is None:
        from practice.models import Practice

        practice = Practice.get()
    return _zone(practice.time_zone) or timezone.get_current_timezone()


@lru_cache(maxsize=16)
def _zone(name: str) -> dt.tzinfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def format_datetime(moment: dt.datetime | None, tz: dt.tzinfo | None = None) -> str:
    """ "02/10/2019 à 11h00" in the practice's time zone."""
    if not moment:
        return ""
    return _format_datetime(moment, tz or practice_tz())


@lru_cache(maxsize=4096)
def _format_datetime(moment: dt.datetime, tz: dt.tzinfo) -> str:
    # Cached: the appointments of a mailing share a few hundred start times (the key is the
    # instant and the zone, and the result a string: nothing stale can come out of it).
    local = moment.astimezone(tz) if timezone.is_aware(moment) else moment
    return f"{format_date(local.date())} à {format_time(local)}"


# ---------------------------------------------------------------------------------------------
# Custom fields and the catalog
# ---------------------------------------------------------------------------------------------


@dataclass
class CustomFields:
    """The practice's @PART_nn and @LIBRE_nn, loaded once per rendering batch."""

    particular: dict[str, object] = field(default_factory=dict)  # code -> ParticularField
    free: dict[str, object] = field(default_factory=dict)  # code -> FreeField
    # Per batch: the known codes longest first, and each text's tokens (a mailing renders the
    # same template for every recipient; tokenizing it once instead of per row).
    _known: list[str] | None = field(default=None, init=False, repr=False, compare=False)
    _tokens: dict[str, tuple[Token, ...]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _plans: dict[str, tuple] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def load(cls) -> CustomFields:
        from .models import FreeField, ParticularField

        return cls(
            particular={f.code: f for f in ParticularField.objects.all()},
            free={f.code: f for f in FreeField.objects.all()},
        )

    def defs(self) -> list[FieldDef]:
        return [FieldDef(code, f.label, "particuliers") for code, f in self.particular.items()] + [
            FieldDef(code, f.label, "libres") for code, f in self.free.items()
        ]


def catalog(*, search: str = "", category: str = "", custom: CustomFields | None = None) -> list[FieldDef]:
    """The merge fields staff can insert, filtered by keyword (code, label or keywords; accents
    and case ignored) and/or category ("principaux" lists the main fields of every category)."""
    from patients.models import normalize_search

    fields = BUILTIN_FIELDS + (custom or CustomFields.load()).defs()
    if category == "principaux":
        fields = [f for f in fields if f.principal or f.category == "principaux"]
    elif category:
        fields = [f for f in fields if f.category == category]
    words = normalize_search(search).split()
    if words:
        fields = [
            f
            for f in fields
            # The label in the staff member's language and in French: a word of either finds it.
            if all(w in normalize_search(f"{f.code} {f.label} {f.source} {f.keywords}") for w in words)
        ]
    return fields


def canonical_code(code: str) -> str:
    """@LIBRE01 and @LIBRE_1 are accepted as @LIBRE_01 (the seed writes both)."""
    match = _CUSTOM_RE.match(code)
    if match:
        return f"@{match.group(1)}_{int(match.group(2)):02d}"
    return code


def _known_codes(custom: CustomFields) -> list[str]:
    if custom._known is None:
        custom._known = sorted([*_BUILTIN_CODES, *custom.particular, *custom.free], key=len, reverse=True)
    return custom._known


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    code: str  # canonical code, or the unknown token as typed
    known: bool


def tokenize(text: str, custom: CustomFields) -> list[Token]:
    """The merge tokens of ``text`` in order. At each "@" the longest known code wins; what looks
    like a code but is none is returned with known=False. Cached on ``custom`` (one batch)."""
    tokens = custom._tokens.get(text)
    if tokens is None:
        if len(custom._tokens) >= 256:  # bound the cache of a long-lived CustomFields
            custom._tokens.clear()
        tokens = custom._tokens[text] = tuple(_tokenize(text, custom))
    return list(tokens)


def _tokenize(text: str, custom: CustomFields) -> list[Token]:
    known = _known_codes(custom)
    known_set = set(known)
    tokens: list[Token] = []
    pos = 0
    while True:
        at = text.find("@", pos)
        if at < 0:
            break
        match = _TOKEN_RE.match(text, at)
        if not match:
            pos = at + 1
            continue
        word = match.group(0)
        # Custom fields written without the underscore or with one digit.
        custom_match = re.match(r"@(PART|LIBRE)_?\d{1,2}", word)
        if custom_match and canonical_code(custom_match.group(0)) in known_set:
            end = at + len(custom_match.group(0))
            tokens.append(Token(at, end, canonical_code(custom_match.group(0)), True))
            pos = end
            continue
        for code in known:
            if word.startswith(code):
                tokens.append(Token(at, at + len(code), code, True))
                pos = at + len(code)
                break
        else:
            tokens.append(Token(at, match.end(), word, False))
            pos = match.end()
    return tokens


@dataclass(frozen=True)
class UnknownCode:
    code: str
    suggestion: str | None

    def message(self) -> str:
        """What staff read (active language): the code, and the nearest known code if any."""
        if self.suggestion:
            return gettext("Le champ d'intégration %(code)s n'existe pas. Vouliez-vous dire %(suggestion)s ?") % {
                "code": self.code, "suggestion": self.suggestion}
        return gettext("Le champ d'intégration %(code)s n'existe pas.") % {"code": self.code}


def unknown_codes(text: str, *, custom: CustomFields | None = None) -> list[UnknownCode]:
    """Codes in ``text`` that the catalog does not know, each once, with the nearest known code."""
    custom = custom or CustomFields.load()
    known = _known_codes(custom)
    seen: dict[str, UnknownCode] = {}
    text = text or ""
    for token in tokenize(text, custom):
        if not token.known:
            if token.code not in seen:
                close = difflib.get_close_matches(token.code, known, n=1, cutoff=0.6)
                seen[token.code] = UnknownCode(token.code, close[0] if close else None)
            continue
        # A known code glued to more capitals or digits ("@PPRENOM") renders as the code plus
        # text, which is almost never what was meant: report the whole word, suggesting the code.
        glued = _TOKEN_RE.match(text, token.start)
        if glued and glued.end() > token.end and text[token.end] != "@":
            word = glued.group(0)
            if word not in seen:
                seen[word] = UnknownCode(word, token.code)
    return list(seen.values())


def validate_merge_text(text: str) -> None:
    """Raise a ValidationError (active language) naming every unknown code and its nearest known code."""
    problems = unknown_codes(text)
    if problems:
        raise ValidationError([p.message() for p in problems], code="unknown_merge_field")


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


def _person_parts(person) -> tuple[str, str, str]:
    if person is None:
        return "", "", ""
    civility = getattr(person, "civility", "") or ""
    if civility == "Enf.":
        civility = ""
    return civility, (person.last_name or "").upper(), getattr(person, "first_name", "") or ""


class MergeContext:
    """The values of the merge codes for one recipient, computed on first use.

    ``value(code)`` returns the string to insert ("" when the data is missing) and
    ``missing(code)`` the French warning for missing data, or None.
    """

    def __init__(
        self,
        *,
        patient=None,
        appointment=None,
        recipient=None,
        correspondent=None,
        today: dt.date | None = None,
        custom: CustomFields | None = None,
        practice=None,
        next_appointment=None,
        appointments=None,
    ):
        self.patient = patient if patient is not None else getattr(appointment, "patient", None)
        self.appointment = appointment
        # Every appointment the message is about when it lists several (one SMS to a family's
        # number, @RDVLISTE); None: just ``appointment``.
        self.appointments = appointments
        self.recipient = recipient if recipient is not None else (correspondent or self.patient)
        self.correspondent = correspondent
        self.today = today or timezone.localdate()
        self._custom = custom
        self._practice = practice
        self._next = next_appointment
        self._cache: dict[str, str] | None = None  # made on first use (custom fields, warnings)
        # Names merged with their letters outside GSM-7 replaced (an SMS option of the practice,
        # messaging.compose.compose_sms): "Anaïs" would make the whole SMS UCS-2.
        self.gsm_names = False
        # Given by the batch: set as cached values (no descriptor call per message).
        if custom is not None:
            self.__dict__["custom"] = custom
        if practice is not None:
            self.__dict__["practice"] = practice

    @cached_property
    def custom(self) -> CustomFields:
        return self._custom or CustomFields.load()

    @cached_property
    def practice(self):
        if self._practice is not None:
            return self._practice
        from practice.models import Practice

        return Practice.get()

    @cached_property
    def practitioner(self):
        if self.appointment is not None and self.appointment.practitioner_id:
            return self.appointment.practitioner
        if self.patient is not None and self.patient.practitioner_id:
            return self.patient.practitioner
        return None

    @cached_property
    def next_appointment(self):
        if self._next is not None:
            return self._next or None
        if self.patient is None or self.patient.pk is None:
            return None
        from patients.models import Appointment, AppointmentState

        after = self.appointment.start if self.appointment is not None else timezone.now()
        return (
            Appointment.objects.filter(patient=self.patient, state=AppointmentState.FUTURE, start__gt=after)
            .order_by("start")
            .first()
        )

    @cached_property
    def tz(self) -> dt.tzinfo:
        return practice_tz(self.practice)

    @cached_property
    def civil(self):
        return self.patient.civil_responsible() if self.patient is not None else None

    @cached_property
    def financial(self):
        return self.patient.financial_responsible() if self.patient is not None else None

    def local_start(self) -> dt.datetime | None:
        return self.appointment.start.astimezone(self.tz) if self.appointment is not None else None

    def _particular(self, code: str) -> str:
        spec = self.custom.particular[code]
        p = self.patient
        if p is None or not p.sex:
            return ""
        child = p.effective_type(self.today) == "enfant"
        if p.sex == "F":
            return spec.girl if child else spec.woman
        return spec.boy if child else spec.man

    def _free(self, code: str) -> str:
        spec = self.custom.free[code]
        cor = self.correspondent
        if cor is None:
            return ""
        relationship = cor.relationship_with(self.practitioner)
        return getattr(spec, relationship, "") if relationship else ""

    def value(self, code: str) -> str:
        cache = self._cache
        if cache is None:
            cache = self._cache = {}
        elif code in cache:
            return cache[code]
        # Built-in codes and the practice's @PART_nn / @LIBRE_nn never share a name.
        provider = _PROVIDERS.get(code)
        if provider is not None:
            result = provider(self)
        elif code in self.custom.particular:
            result = self._particular(code)
        elif code in self.custom.free:
            result = self._free(code)
        else:
            result = ""
        result = cache[code] = str(result or "")
        return result

    def missing(self, code: str) -> str | None:
        """A warning (in the active language) when ``code`` renders empty for this recipient, else None."""
        why = self.missing_why(code)
        return why.shown() if why is not None else None

    def missing_why(self, code: str) -> Why | None:
        """Why ``code`` renders empty for this recipient (a ``messaging.reasons.Why``: French
        text, shown in the reader's language), None when it does not."""
        if self.value(code):
            return None
        if code in self.custom.particular:
            if self.patient is None:
                return Why(gettext_noop("%(code)s : aucun patient."), code=code)
            if not self.patient.sex:
                return Why(gettext_noop("%(code)s : le sexe du patient n'est pas renseigné."), code=code)
            return Why(gettext_noop("%(code)s : texte vide pour ce sexe et cet âge."), code=code)
        if code in self.custom.free:
            if self.correspondent is None:
                return Why(gettext_noop("%(code)s : aucun correspondant."), code=code)
            return Why(gettext_noop("%(code)s : relation du correspondant avec le praticien non renseignée."),
                       code=code)
        field_def = _BUILTIN_CODES.get(code)
        # A built-in field's label is a catalogue string (translated for the reader); a custom
        # field's is the practice's own text.
        label = (Why(field_def.source) if field_def.translated else field_def.source) if field_def else code
        if code in APPOINTMENT_CODES and self.appointment is None:
            return Why(gettext_noop("%(code)s (%(label)s) : aucun rendez-vous choisi."), code=code, label=label)
        if code == "@PROCHRDV":
            return Why(gettext_noop("%(code)s (%(label)s) : aucun prochain rendez-vous."), code=code, label=label)
        return Why(gettext_noop("%(code)s (%(label)s) : donnée manquante."), code=code, label=label)

    def required(self, code: str) -> bool:
        """Whether ``code`` rendering empty for this recipient means REQUIRED data is missing
        (the message must not leave unless staff keep it), rather than a value that may be
        empty by design. The one rule of every route (``render`` collects the codes concerned):

        * civilities (a child has none), the second first name and the second address line
          may be empty;
        * the chair and the nature of an appointment that exists may be unset; with no
          appointment at all, every appointment code is missing;
        * a @PART_nn may be empty for this sex and age by its own definition, but not because
          the patient's sex is unknown; a @LIBRE_nn likewise for a relationship that is set,
          but not for want of a correspondent or of their relationship;
        * the practice's own details (@CABTEL, @CABADR...) are settings, the same for every
          recipient, not the recipient's data: an empty one is a warning of the preview (fixed
          once in the practice's settings), never a reason to stop every message;
        * every other code (names, appointment, next appointment, address, birth date,
          practitioner, guardians, correspondent) is required."""
        if code in OPTIONAL_CODES or code in PRACTICE_CODES:
            return False
        if code in _OPTIONAL_ON_APPOINTMENT:
            return self.appointment is None
        if code in self.custom.particular:
            return self.patient is None or not self.patient.sex
        if code in self.custom.free:
            return self.correspondent is None or not self.correspondent.relationship_with(self.practitioner)
        return True


_VOWELS = frozenset("aeiouyhàâäéèêëîïôöùûüÿœæ")


def _of(name: str) -> str:
    """ "de Léo", "d'Emma", "d'Hugo": the French elision before a vowel or a mute h."""
    return f"d'{name}" if name[:1].lower() in _VOWELS else f"de {name}"


def appointment_list(appointments, tz: dt.tzinfo) -> str:
    """ "RDV de Léo à 14h00 et d'Emma à 14h30": the appointments of one message in the order of
    their start, each with its patient's first name (the name when none) and its local time;
    two of the same patient in a row share the name ("RDV de Léo à 14h00 et à 16h00")."""
    items = sorted((a for a in appointments if a is not None), key=lambda a: (a.start, a.pk or 0))
    parts: list[str] = []
    previous = None
    for a in items:
        patient = a.patient if a.patient_id else None
        name = ((patient.first_name or patient.last_name or "").strip() if patient is not None else "") or a.who
        when = f"à {format_time(a.start.astimezone(tz))}"
        parts.append(when if name == previous else f"{_of(name)} {when}" if name else when)
        previous = name
    if not parts:
        return ""
    body = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " et " + parts[-1]
    return f"RDV {body}"


def _pat(attr: str) -> Callable[[MergeContext], str]:
    return lambda c: (getattr(c.patient, attr, "") or "") if c.patient is not None else ""


# How each built-in code is computed from a MergeContext. One table for every context: building
# ~50 closures per recipient cost more than rendering the few codes a template uses.
_PROVIDERS: dict[str, Callable[[MergeContext], str]] = {
    "@AGPAT": lambda c: f"{c.patient.age(c.today)} ans" if c.patient is not None and c.patient.birth_date else "",
    "@MAIL_PAT": _pat("email"),
    "@PADR1": _pat("address1"),
    "@PADR2": _pat("address2"),
    "@PCIVIL": lambda c: _person_parts(c.patient)[0],
    "@PCPOST": _pat("postcode"),
    "@PNOM": lambda c: _person_parts(c.patient)[1],
    "@PORT_PAT": lambda c: format_fr(c.patient.mobile) if c.patient is not None else "",
    "@PPREN": _pat("first_name"),
    "@PPREN2": _pat("second_first_name"),
    "@PSEXE": lambda c: c.patient.get_sex_display() if c.patient is not None and c.patient.sex else "",
    "@PTYPE": lambda c: c.patient.get_effective_type_display() if c.patient is not None else "",
    "@PVILLE": _pat("city"),
    "@TEL_PAT": lambda c: format_fr(c.patient.phone) if c.patient is not None else "",
    "@PDOSS": _pat("file_number"),
    "@PNAIS": lambda c: format_date(c.patient.birth_date) if c.patient is not None else "",
    "@RDV1": lambda c: format_datetime(c.appointment.start, c.tz) if c.appointment is not None else "",
    "@RDVDATE": lambda c: format_date(c.local_start().date()) if c.appointment is not None else "",
    "@RDVJOUR": lambda c: format_long_date(c.local_start().date()) if c.appointment is not None else "",
    "@RDVHEURE": lambda c: format_time(c.local_start()) if c.appointment is not None else "",
    "@RDVPRAT": lambda c: c.appointment.practitioner.display_name if c.appointment is not None else "",
    "@RDVFAUT": lambda c: c.appointment.chair.label if c.appointment is not None and c.appointment.chair_id else "",
    "@RDVNAT": lambda c: c.appointment.nature.label if c.appointment is not None and c.appointment.nature_id else "",
    "@RDVDUREE": lambda c: str(c.appointment.duration) if c.appointment is not None else "",
    "@PROCHRDV": lambda c: format_datetime(c.next_appointment.start, c.tz) if c.next_appointment else "",
    "@RDVLISTE": lambda c: appointment_list(c.appointments or [c.appointment], c.tz) if (
        c.appointments or c.appointment is not None) else "",
    "@PRAT": lambda c: c.practitioner.display_name if c.practitioner else "",
    "@PRATNOM": lambda c: c.practitioner.last_name.upper() if c.practitioner else "",
    "@PRATPREN": lambda c: c.practitioner.first_name if c.practitioner else "",
    "@CABNOM": lambda c: c.practice.name,
    "@CABTEL": lambda c: format_fr(c.practice.phone),
    "@CABADR": lambda c: c.practice.address_line,
    "@CABMAIL": lambda c: c.practice.email,
    "@DATEJ": lambda c: format_date(c.today),
    "@DATEJL": lambda c: format_long_date(c.today),
    "@RCCIVIL": lambda c: _person_parts(c.civil)[0],
    "@RCNOM": lambda c: _person_parts(c.civil)[1],
    "@RCPREN": lambda c: _person_parts(c.civil)[2],
    "@RFCIVIL": lambda c: _person_parts(c.financial)[0],
    "@RFNOM": lambda c: _person_parts(c.financial)[1],
    "@RFPREN": lambda c: _person_parts(c.financial)[2],
    "@CORTITRE": lambda c: c.correspondent.display_name if c.correspondent is not None else "",
    "@CORCIVIL": lambda c: _person_parts(c.correspondent)[0],
    "@CORNOM": lambda c: _person_parts(c.correspondent)[1],
    "@CORPREN": lambda c: _person_parts(c.correspondent)[2],
    "@DCIVIL": lambda c: _person_parts(c.recipient)[0],
    "@DNOM": lambda c: _person_parts(c.recipient)[1],
    "@DPREN": lambda c: _person_parts(c.recipient)[2],
}


# The patient and appointment columns a message reads: those every message reads (the names of
# the merge and of the recipient, the addresses and consents that choose recipients, the ids of
# the relations), then those of each code beyond them. A mass mailing loads only what its codes
# read (``message_fields``); tests/messaging/test_message_fields.py renders every code, for
# every kind of recipient, from instances loaded so, and fails on the query a column left out
# would cost.
MESSAGE_PATIENT_FIELDS = (
    "id", "civility", "last_name", "first_name", "mobile", "email", "sms_consent", "email_consent",
    "civil_guardian_id", "financial_guardian_id", "practitioner_id",
)
MESSAGE_APPOINTMENT_FIELDS = ("id", "start", "patient_id", "practitioner_id", "chair_id", "nature_id")
_AGE_FIELDS = ("birth_date", "patient_type")  # the effective type: as set, or from the age
_PATIENT_FIELDS_OF = {
    "@AGPAT": ("birth_date",),
    "@PADR1": ("address1",),
    "@PADR2": ("address2",),
    "@PCPOST": ("postcode",),
    "@PVILLE": ("city",),
    "@PPREN2": ("second_first_name",),
    "@PSEXE": ("sex",),
    "@PTYPE": _AGE_FIELDS,
    "@TEL_PAT": ("phone",),
    "@PDOSS": ("file_number",),
    "@PNAIS": ("birth_date",),
}
_APPOINTMENT_FIELDS_OF = {"@RDVDUREE": ("duration",)}
_PARTICULAR_FIELDS = ("sex", *_AGE_FIELDS)  # @PART_nn: by sex and age


def message_fields(texts, custom: CustomFields) -> tuple[list[str], list[str]]:
    """The patient and appointment attnames that messages merged from ``texts`` read (for
    ``patients.selectors.appointments_for_messages``)."""
    patient, appointment = list(MESSAGE_PATIENT_FIELDS), list(MESSAGE_APPOINTMENT_FIELDS)
    for text in texts:
        for token in tokenize(text or "", custom):
            if token.code in custom.particular:
                patient += _PARTICULAR_FIELDS
            patient += _PATIENT_FIELDS_OF.get(token.code, ())
            appointment += _APPOINTMENT_FIELDS_OF.get(token.code, ())
    return list(dict.fromkeys(patient)), list(dict.fromkeys(appointment))


def merge_context(
    *,
    patient=None,
    appointment=None,
    recipient=None,
    correspondent=None,
    today: dt.date | None = None,
    custom: CustomFields | None = None,
    practice=None,
    next_appointment=None,
    appointments=None,
) -> MergeContext:
    """The merge context of one recipient. ``custom`` and ``practice`` can be loaded once and
    shared across a batch; ``next_appointment`` can be preloaded (False means "none")."""
    return MergeContext(
        patient=patient,
        appointment=appointment,
        recipient=recipient,
        correspondent=correspondent,
        today=today,
        custom=custom,
        practice=practice,
        next_appointment=next_appointment,
        appointments=appointments,
    )


# The codes whose value is a person's name: the only values the practice's "names in GSM-7"
# option changes (the template's own text is left as staff typed it).
NAME_CODES = frozenset({
    "@PNOM", "@PPREN", "@PPREN2", "@RDVPRAT", "@PRAT", "@PRATNOM", "@PRATPREN", "@RCNOM", "@RCPREN",
    "@RFNOM", "@RFPREN", "@CORTITRE", "@CORNOM", "@CORPREN", "@DNOM", "@DPREN",
})


class MissingField(NamedTuple):
    """A required code that renders empty for one recipient, and the text saying why: ``text``
    in the language of whoever merges (shown live: preview, send window), ``why`` its
    ``messaging.reasons.Why`` (stored with a message, shown in its reader's language; None for
    a note read back from the send window's signed check, which keeps the text only)."""

    code: str
    text: str
    why: Why | None = None


# Codes that may render empty by design (see ``MergeContext.required``).
OPTIONAL_CODES = frozenset({"@PCIVIL", "@DCIVIL", "@RCCIVIL", "@RFCIVIL", "@CORCIVIL", "@PPREN2", "@PADR2"})
_OPTIONAL_ON_APPOINTMENT = frozenset({"@RDVFAUT", "@RDVNAT"})
PRACTICE_CODES = frozenset(f.code for f in BUILTIN_FIELDS if f.category == "cabinet")
# The codes of the appointment a message is about: empty, all of them, without one.
APPOINTMENT_CODES = frozenset(f.code for f in BUILTIN_FIELDS if f.code.startswith("@RDV"))


def codes_without(texts, *, appointment: bool = True) -> list[str]:
    """The codes of ``texts`` a route can never fill, each once in order of appearance: the
    appointment codes when its messages are about no appointment (a birthday, a recall). What
    a treatment of such a kind refuses on save."""
    custom = CustomFields(particular={}, free={})
    found: list[str] = []
    for text in texts:
        for token in tokenize(text or "", custom):
            if not appointment and token.code in APPOINTMENT_CODES and token.code not in found:
                found.append(token.code)
    return found


def field_label(code: str) -> str:
    """ "@RDV1 (Date et heure du rendez-vous …)" for staff."""
    field_def = _BUILTIN_CODES.get(code)
    return f"{code} ({field_def.label})" if field_def else code


class Rendered(NamedTuple):  # a tuple: built once per message, cheaper than a frozen dataclass
    text: str
    warnings: list[str]
    # The required codes that rendered empty (``MergeContext.required``): the message must not
    # leave unless staff keep it.
    missing: list[MissingField] = []


def _plan(text: str, custom: CustomFields) -> tuple[tuple[tuple[str, Token, Callable | None], ...], str]:
    """``text`` cut at its tokens: (the text before each token, the token, the function computing
    a built-in code), and the text after the last one. Cached on ``custom`` like the tokens: a
    mailing renders one text many times."""
    plan = custom._plans.get(text)
    if plan is None:
        if len(custom._plans) >= 256:
            custom._plans.clear()
        parts, pos = [], 0
        for token in tokenize(text, custom):
            parts.append((text[pos : token.start], token, _PROVIDERS.get(token.code) if token.known else None))
            pos = token.end
        plan = custom._plans[text] = (tuple(parts), text[pos:])
    return plan


def render(text: str, context: MergeContext, *, html: bool = False) -> Rendered:
    """Replace the known codes of ``text`` by their values (HTML-escaped when ``html``); unknown
    codes are left as typed (they were refused at save time) and reported; missing data renders
    empty and is reported once per code.

    The values are in the practice's language (settings.LANGUAGE_CODE), whatever the language of
    the staff member sending: a choice's label (@PCIVIL, @PTYPE...) joins the practice's own text.
    The warnings and missing-data texts are for that staff member: in the caller's language."""
    staff_language = translation.get_language()
    with translation.override(settings.LANGUAGE_CODE):
        return _render(text, context, html=html, staff_language=staff_language)


def _render(text: str, context: MergeContext, *, html: bool, staff_language: str | None = None) -> Rendered:
    parts, tail = _plan(text or "", context.custom)
    out: list[str] = []
    warnings: list[str] = []
    missing: list[MissingField] = []
    for before, token, provider in parts:
        out.append(before)
        if token.known:
            # A built-in code straight from its function (no per-message cache to fill).
            value = (provider(context) or "") if provider is not None else context.value(token.code)
            value = str(value)  # a lazy choice label, in the practice's language (render)
            if context.gsm_names and value and token.code in NAME_CODES:
                value = to_gsm(value)
            out.append(escape(value) if html else value)
            if value:
                continue
            why = context.missing_why(token.code)
            with translation.override(staff_language):  # rare: only for a code that renders empty
                warning = why.shown() if why is not None else None
            if warning and context.required(token.code) and all(m.code != token.code for m in missing):
                missing.append(MissingField(token.code, warning, why))
        else:
            out.append(token.code)  # as typed
            with translation.override(staff_language):
                warning = gettext("Le champ d'intégration %(code)s n'existe pas : il est laissé tel quel.") % {
                    "code": token.code}
        if warning and warning not in warnings:
            warnings.append(warning)
    out.append(tail)
    return Rendered("".join(out), warnings, missing)
