"""The demo practice: a believable French dental practice for `make run`, and the same generator
at benchmark scale (``seed_demo --patients 100000 --appointments 1000000``).

Everything is deterministic for a given seed and reference time: the same arguments give the same
names, numbers and appointments. Rows are produced by generators and written in batches
(``bulk_create``; COPY for the appointments on PostgreSQL), so memory stays bounded whatever the
scale (only the list of patient ids is kept: 8 bytes each).

Idempotency: the reference data (practice, practitioners, chairs, natures, correspondents, demo
accounts) is created when missing and left alone when present; patients and appointments are only
generated into a database that has no patient yet. Running the seed twice never duplicates a row.

The email addresses use the reserved ``example.com/org/net`` domains. The mobile numbers are in
valid French mobile ranges (so that the SMS features work on them) but random: the demo must only
ever run with the sandbox, console or locmem SMS backend, never a real gateway.
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
import random
import struct
import time
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache

import phonenumbers
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from practice import roles
from practice.demo import DEMO_PASSWORD
from practice.models import Practice

from .models import (
    Appointment,
    AppointmentState,
    CancelledBy,
    Chair,
    Civility,
    Correspondent,
    CorrespondentLink,
    CorrespondentRelationship,
    Family,
    FileStatus,
    Guardian,
    ImageStage,
    ImageSubtype,
    ImageType,
    Nature,
    Patient,
    PatientCorrespondent,
    PatientImage,
    Practitioner,
    Sex,
    normalize_search,
)

DEFAULT_PATIENTS = 2000
DEFAULT_SEED = 1984
BATCH_SIZE = 5000
MONTHS_BACK = 6
MONTHS_FORWARD = 6

# --------------------------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------------------------

PRACTICE = {
    "name": "Cabinet dentaire du Parc",
    "address1": "18 avenue Victor Hugo",
    "address2": "2e étage",
    "postcode": "21000",
    "city": "Dijon",
    "phone": "+33380301240",
    "email": "accueil@cabinet-du-parc.example.com",
    "website": "https://cabinet-du-parc.example.com",
    "time_zone": "Europe/Paris",
    "sms_sender_name": "CabinetParc",
    # The demo's gateway (sandbox) priced like an OVH contract: the pages estimate the cost.
    "sms_prices": {"sandbox": "0.0725"},
}

# (civility, last name, first name, initials, colour, email, mobile)
PRACTITIONERS = [
    ("Dr", "Molaire", "Marc", "MM", "#0d6efd", "marc.molaire@cabinet-du-parc.example.com", "+33684285560"),
    (
        "Dr",
        "Lebrun",
        "Camille",
        "CL",
        "#198754",
        "camille.lebrun@cabinet-du-parc.example.com",
        "+33613682982",
    ),
    ("Dr", "Nguyen", "Thomas", "TN", "#6f42c1", "thomas.nguyen@cabinet-du-parc.example.com", "+33745127788"),
]

CHAIRS = [("F1", "Fauteuil 1"), ("F2", "Fauteuil 2")]

# Who works on which chair on which weekday (0 = Monday): Dr Molaire every day on F1, his two
# colleagues share F2.
AGENDAS = {
    0: [("MM", "F1"), ("CL", "F2")],
    1: [("MM", "F1"), ("TN", "F2")],
    2: [("MM", "F1"), ("CL", "F2")],
    3: [("MM", "F1"), ("TN", "F2")],
    4: [("MM", "F1"), ("CL", "F2")],
}

# (code, label, default duration in minutes, colour, weight among appointments)
NATURES = [
    ("NP", "Nouveau patient", 30, "#0d6efd", 6),
    ("CTR-SURV", "Contrôle surveillance", 20, "#20c997", 22),
    ("CTR", "Contrôle annuel", 20, "#198754", 12),
    ("DET", "Détartrage", 30, "#0dcaf0", 14),
    ("SOIN", "Soins (carie)", 30, "#6c757d", 16),
    ("URG", "Urgence", 20, "#dc3545", 5),
    ("EXT", "Extraction", 45, "#fd7e14", 4),
    ("ENDO", "Traitement de canal", 60, "#6610f2", 5),
    ("EMP", "Empreinte prothèse", 45, "#d63384", 4),
    ("POSE", "Pose de couronne", 30, "#ffc107", 4),
    ("IMPL", "Chirurgie implantaire", 90, "#842029", 2),
    ("ORTHO", "Contrôle orthodontie", 20, "#0f5132", 5),
    ("BLANCH", "Blanchiment", 60, "#adb5bd", 1),
]

# (civility, last name, first name, specialty, sex for the relationship word, city, postcode)
CORRESPONDENTS = [
    ("Dr", "Dupuis", "Henri", "Dentiste", "M", "Dijon", "21000"),
    ("Dr", "Garnier", "Isabelle", "Orthodontiste", "F", "Dijon", "21000"),
    ("Dr", "Roussel", "Pierre", "Médecin généraliste", "M", "Chenôve", "21300"),
    ("Dr", "Fontaine", "Anne", "Chirurgien maxillo-facial", "F", "Dijon", "21000"),
    ("Dr", "Perrin", "Luc", "Parodontologue", "M", "Beaune", "21200"),
    ("Dr", "Marchand", "Sylvie", "Dentiste", "F", "Quetigny", "21800"),
    ("Dr", "Chevalier", "Olivier", "Médecin généraliste", "M", "Talant", "21240"),
    ("Dr", "Benoît", "Hélène", "Pédiatre", "F", "Dijon", "21000"),
    ("Dr", "Lemaire", "Jacques", "Radiologue", "M", "Dijon", "21000"),
    ("Dr", "Aubert", "Claire", "Dentiste", "F", "Longvic", "21600"),
    ("Dr", "Hébert", "Nicolas", "ORL", "M", "Dijon", "21000"),
    ("Dr", "Masson", "Élodie", "Orthodontiste", "F", "Genlis", "21110"),
]

# (username, first name, last name, role, is_staff/superuser, linked practitioner initials)
DEMO_USERS = [
    ("admin", "Sophie", "Lambert", roles.ADMINISTRATEUR, True, None),
    ("praticien", "Marc", "Molaire", roles.PRATICIEN, False, "MM"),
    ("assistante", "Julie", "Petit", roles.ASSISTANT, False, None),
]

# --------------------------------------------------------------------------------------------
# Vocabulary for the patients
# --------------------------------------------------------------------------------------------

LAST_NAMES = """Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent
Lefebvre Michel Garcia David Bertrand Roux Vincent Fournier Morel Girard André Lefèvre Mercier Dupont
Lambert Bonnet François Martinez Legrand Garnier Faure Rousseau Blanc Guérin Muller Henry Roussel
Nicolas Perrin Morin Mathieu Clément Gauthier Dumont Lopez Fontaine Chevalier Robin Masson Sanchez
Gérard Nguyen Boyer Denis Lemaire Duval Joly Gautier Roger Roche Roy Noël Meyer Lucas Meunier Jean
Perez Marchand Dufour Blanchard Marie Barbier Brun Dumas Brunet Schmitt Leroux Colin Fernandez Pierre
Renard Arnaud Rolland Caron Aubert Giraud Leclerc Vidal Bourgeois Renaud Lemoine Picard Gaillard
Philippe Leclercq Lacroix Fabre Dupuis Olivier Rodriguez Hubert Louis Charles Guillot Rivière
Guillaume Adam Rey Moulin Gonzalez Berger Lecomte Ménard Fleury Deschamps Carpentier Julien Benoît
Paris Maillard Marchal Aubry Vasseur Renault Jacquet Collet Prévost Poirier Charpentier Royer Huet
Bailly Hébert Bouvier Cordier Besson Millet Perret Tessier Lebon Chauvin Bouchet Sauvage Poulain
Pichon Carré Tanguy Brunel Weber Lebrun Camus Chartier Langlois Mallet Grenier Bertin Klein""".split()
# Names with a particle or an apostrophe: the search must find them without it.
LAST_NAMES += ["Da Silva", "Le Gall", "Le Roux", "D'Almeida", "De Oliveira", "Le Goff", "N'Diaye"]

FEMALE_FIRST_NAMES = """Emma Louise Jade Alice Chloé Léa Manon Rose Anna Inès Camille Lina Léna Zoé
Juliette Ambre Mila Julia Lou Agathe Sarah Clara Romane Eva Margaux Lucie Nina Jeanne Mathilde Élise
Hélène Nathalie Isabelle Sylvie Catherine Sandrine Valérie Christine Stéphanie Céline Aurélie Émilie
Sophie Marie Anne Laurence Véronique Martine Françoise Monique Brigitte Chantal Danielle Odile Anaïs
Noémie Océane Maëlle Gaëlle Aurore Pauline Charlotte Élodie Virginie Delphine Caroline""".split()
MALE_FIRST_NAMES = """Gabriel Léo Raphaël Louis Arthur Jules Adam Maël Lucas Hugo Noah Liam Sacha
Gabin Nathan Tom Théo Paul Ethan Mathis Timéo Marius Aaron Noé Victor Martin Baptiste Antoine Julien
Nicolas Stéphane Christophe Frédéric Sébastien Laurent Olivier Philippe Éric Jérôme Pascal Thierry
Patrick Alain Bernard Jean Michel Daniel Gérard Jacques André François Loïc Gaël Yannick Hervé
Benoît Cédric Guillaume Romain Maxime Kévin Jérémy Rémi Anthony Damien Vincent Bruno Didier""".split()

STREETS = """rue de la Liberté|rue Monge|boulevard Carnot|avenue du Drapeau|rue Chabot-Charny|
rue des Godrans|avenue Jean Jaurès|rue de Mirande|boulevard de Sévigné|rue d'Auxonne|
rue Jean-Baptiste Baudin|avenue Aristide Briand|rue Devosge|rue Berbisey|rue Vauban|
avenue de Stalingrad|rue de Talant|rue des Perrières|chemin des Vignes|allée des Tilleuls|
rue Pasteur|place Darcy|rue du Faubourg Raines|rue Charles Dumont|avenue Victor Hugo|
rue de Longvic|rue Paul Cabet|rue du Transvaal|rue Jeannin|boulevard Voltaire""".replace("\n", "").split("|")
ADDRESS2 = [
    "Bâtiment B",
    "Appartement 12",
    "Résidence les Tilleuls",
    "Escalier C",
    "Chez Mme Roussel",
    "Résidence du Parc, apt 4",
    "Lieu-dit les Combes",
]
CITIES = [
    ("Dijon", "21000", 40),
    ("Chenôve", "21300", 8),
    ("Talant", "21240", 6),
    ("Quetigny", "21800", 6),
    ("Fontaine-lès-Dijon", "21121", 5),
    ("Marsannay-la-Côte", "21160", 4),
    ("Longvic", "21600", 5),
    ("Saint-Apollinaire", "21850", 5),
    ("Plombières-lès-Dijon", "21370", 3),
    ("Genlis", "21110", 3),
    ("Beaune", "21200", 4),
    ("Chevigny-Saint-Sauveur", "21800", 4),
    ("Auxonne", "21130", 2),
    ("Is-sur-Tille", "21120", 2),
]
EMAIL_DOMAINS = ["example.com", "example.org", "example.net"]
PROFESSIONS = [
    "Enseignante",
    "Infirmier",
    "Comptable",
    "Ingénieur",
    "Commerçante",
    "Artisan",
    "Agent administratif",
    "Cadre",
    "Aide-soignante",
    "Chauffeur",
    "Pharmacienne",
    "Agriculteur",
]
PATIENT_REMARKS = [
    "Patient anxieux : prévoir du temps",
    "Allergie à la pénicilline",
    "Sous anticoagulants",
    "Préfère les rendez-vous le matin",
    "Appeler sur le portable de la mère",
    "Porteur d'une prothèse amovible",
    "Diabétique",
]
APPOINTMENT_REMARKS = [
    "Apporter la radio panoramique",
    "Prévoir anesthésie",
    "Patient anxieux",
    "Devis à remettre",
    "Contrôle après extraction",
    "Deuxième séance",
]
EXTERNAL_PEOPLE = [
    "M. GARNIER (prothésiste)",
    "Représentant laboratoire Dentalis",
    "Mme FAURE (stagiaire)",
    "Technicien radio",
    "M. COLIN (fournisseur)",
]

PAST_STATES = [  # (state, cancelled_by, weight): what happened to the appointments of the past months
    (AppointmentState.PRESENT, "", 84),
    (AppointmentState.MISSED, "", 5),
    (AppointmentState.EXCUSED, "", 3),
    (AppointmentState.CANCELLED, CancelledBy.PATIENT, 3),
    (AppointmentState.CANCELLED, CancelledBy.PRACTICE, 2),
    (AppointmentState.POSTPONED, CancelledBy.PATIENT, 2),
    (AppointmentState.POSTPONED, CancelledBy.PRACTICE, 1),
]
FUTURE_STATES = [
    (AppointmentState.FUTURE, "", 95),
    (AppointmentState.CANCELLED, CancelledBy.PATIENT, 3),
    (AppointmentState.CANCELLED, CancelledBy.PRACTICE, 1),
    (AppointmentState.POSTPONED, CancelledBy.PATIENT, 1),
]

MORNING = (dt.time(9, 0), dt.time(12, 0))
AFTERNOON = (dt.time(14, 0), dt.time(19, 0))


@dataclass
class DemoSummary:
    """What ``seed_demo`` did. ``created`` is False when patients already existed (nothing
    generated); the counts are those of the database afterwards."""

    created: bool
    patients: int
    appointments: int
    message: str
    seconds: float = 0.0
    # The demo accounts this run created (existing accounts keep their password).
    accounts_created: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def easter(year: int) -> dt.date:
    """Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return dt.date(year, month, day + 1)


@cache
def french_public_holidays(year: int) -> frozenset[dt.date]:
    fixed = [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)]
    sunday = easter(year)
    movable = [sunday + dt.timedelta(days=1), sunday + dt.timedelta(days=39), sunday + dt.timedelta(days=50)]
    return frozenset([dt.date(year, m, d) for m, d in fixed] + movable)


def working_days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    """Monday to Friday in [start, end], French public holidays excluded."""
    day = start
    while day <= end:
        if day.weekday() in AGENDAS and day not in french_public_holidays(day.year):
            yield day
        day += dt.timedelta(days=1)


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (or earlier), clamped to the end of a shorter month."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@cache
def _mobile_prefixes() -> tuple[str, ...]:
    """The 5-digit prefixes (06xxx, 07xxx) that libphonenumber accepts as French mobiles."""
    found = []
    for prefix in itertools.chain(range(6000, 7000), range(7000, 8000)):
        number = phonenumbers.parse(f"0{prefix}23456", "FR")
        if phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) == 1:
            found.append(f"{prefix}")
    return tuple(found)


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _png(seed: int, width: int = 96, height: int = 64) -> bytes:
    """A small grey-scale PNG that looks vaguely like an X-ray: an album image without Pillow."""
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            arch = abs((y - height * 0.55) - ((x - width / 2) ** 2) / (width * 0.9))
            value = 230 - min(200, int(arch * 18)) + ((x * 7 + y * 13 + seed) % 23)
            row.append(max(0, min(255, value)))
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows), 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------


@dataclass
class _Person:
    sex: str
    last_name: str
    first_name: str
    birth_date: dt.date
    second_first_name: str = ""


@dataclass
class _Household:
    """People living at one address. ``guardian`` is the parent who answers for the minors."""

    last_name: str
    address: dict
    patients: list[dict] = field(default_factory=list)
    guardian: dict | None = None
    family: bool = False


class _Generator:
    """Deterministic random data for one seed and one reference day."""

    def __init__(self, *, seed: int, today: dt.date):
        self.rng = random.Random(seed)
        self.today = today
        self.city_weights = list(itertools.accumulate(w for *_, w in CITIES))
        self.email_serial = itertools.count(1)

    # People --------------------------------------------------------------------------------
    def first_name(self, sex: str) -> str:
        return self.rng.choice(FEMALE_FIRST_NAMES if sex == Sex.FEMALE else MALE_FIRST_NAMES)

    def birth_date(self, min_age: int, max_age: int) -> dt.date:
        age_days = self.rng.randint(min_age * 365 + 1, max_age * 365 + 364)
        return self.today - dt.timedelta(days=age_days)

    def mobile(self) -> str:
        prefix = self.rng.choice(_mobile_prefixes())
        return f"+33{prefix}{self.rng.randrange(100000):05d}"

    def landline(self) -> str:
        return f"+333{self.rng.choice(['80', '80', '80', '45', '73'])}{self.rng.randrange(1000000):06d}"

    def email(self, first: str, last: str) -> str:
        local = normalize_search(f"{first} {last}").lower().replace(" ", ".")
        # A serial number keeps addresses distinct between the many "lea.martin" of a big practice.
        return f"{local}{next(self.email_serial)}@{self.rng.choice(EMAIL_DOMAINS)}"

    def address(self) -> dict:
        city, postcode, _ = self.rng.choices(CITIES, cum_weights=self.city_weights)[0]
        return {
            "address1": f"{self.rng.randint(1, 120)} {self.rng.choice(STREETS)}",
            "address2": self.rng.choice(ADDRESS2) if self.rng.random() < 0.12 else "",
            "postcode": postcode,
            "city": city,
            "country": "France",
        }

    def adult(self, last_name: str, sex: str | None = None, min_age: int = 19, max_age: int = 88) -> dict:
        """An adult patient: mostly with a mobile and an email; a few refuse SMS or email."""
        rng = self.rng
        sex = sex or rng.choice([Sex.FEMALE, Sex.MALE])
        first = self.first_name(sex)
        birth = self.birth_date(min_age, max_age)
        age = (self.today - birth).days // 365
        has_mobile = rng.random() < (0.70 if age >= 75 else 0.88)
        has_email = rng.random() < (0.45 if age >= 75 else 0.78)
        return {
            "civility": Civility.MME if sex == Sex.FEMALE else Civility.M,
            "sex": sex,
            "last_name": last_name,
            "first_name": first,
            "second_first_name": self.first_name(sex) if rng.random() < 0.3 else "",
            "birth_date": birth,
            "mobile": self.mobile() if has_mobile else "",
            "phone": self.landline() if rng.random() < (0.6 if age >= 60 else 0.15) else "",
            "email": self.email(first, last_name) if has_email else "",
            "sms_consent": rng.random() >= 0.07,
            "email_consent": rng.random() >= 0.05,
        }

    def child(self, last_name: str, min_age: int = 3, max_age: int = 17) -> dict:
        """A minor: reached through the civil guardian; teenagers sometimes have their own mobile."""
        rng = self.rng
        sex = rng.choice([Sex.FEMALE, Sex.MALE])
        first = self.first_name(sex)
        birth = self.birth_date(min_age, max_age)
        teen = (self.today - birth).days // 365 >= 14
        return {
            "civility": Civility.ENFANT,
            "sex": sex,
            "last_name": last_name,
            "first_name": first,
            "second_first_name": self.first_name(sex) if rng.random() < 0.3 else "",
            "birth_date": birth,
            "mobile": self.mobile() if teen and rng.random() < 0.4 else "",
            "phone": "",
            "email": "",
            "sms_consent": True,
            "email_consent": True,
        }

    def guardian(self, last_name: str, address: dict) -> dict:
        rng = self.rng
        sex = Sex.FEMALE if rng.random() < 0.65 else Sex.MALE
        first = self.first_name(sex)
        return {
            "sex": sex,  # not a Guardian field: used when the parent is a patient too
            "civility": Civility.MME if sex == Sex.FEMALE else Civility.M,
            "last_name": last_name,
            "first_name": first,
            "birth_date": self.birth_date(30, 55),
            "profession": rng.choice(PROFESSIONS),
            # Nearly every parent has a mobile and an email: they receive the children's reminders.
            "mobile": self.mobile() if rng.random() < 0.93 else "",
            "phone": self.landline() if rng.random() < 0.2 else "",
            "email": self.email(first, last_name) if rng.random() < 0.85 else "",
            "sms_consent": rng.random() >= 0.04,
            "email_consent": rng.random() >= 0.04,
            **address,
        }

    def households(self) -> Iterator[_Household]:
        """An endless stream of households: people living alone, couples, and families with
        children (siblings share a family and a civil guardian)."""
        rng = self.rng
        while True:
            last = rng.choice(LAST_NAMES)
            house = _Household(last_name=last, address=self.address())
            kind = rng.random()
            if kind < 0.55:
                house.patients.append(self.adult(last))
            elif kind < 0.72:
                house.family = True
                first = self.adult(last, sex=Sex.FEMALE, min_age=25)
                second = self.adult(last, sex=Sex.MALE, min_age=25)
                house.patients += [first, second]
            else:
                house.family = True
                house.guardian = self.guardian(last, house.address)
                children = [self.child(last) for _ in range(rng.choice([1, 1, 2, 2, 2, 3]))]
                # Some families also have a grown-up child still on the parents' account.
                if rng.random() < 0.2:
                    grown = self.adult(last, min_age=18, max_age=24)
                    grown["financial"] = True
                    children.append(grown)
                house.patients += children
                # The parent is a patient of the practice too, half of the time.
                if rng.random() < 0.5:
                    parent = self.adult(last, sex=house.guardian["sex"], min_age=30, max_age=55)
                    parent.update(
                        first_name=house.guardian["first_name"],
                        civility=house.guardian["civility"],
                        birth_date=house.guardian["birth_date"],
                        mobile=house.guardian["mobile"],
                        email=house.guardian["email"],
                    )
                    house.patients.append(parent)
            for patient in house.patients:
                patient.update(house.address)
            yield house

    def file_status(self) -> str:
        return self.rng.choices(
            [
                FileStatus.IN_TREATMENT,
                FileStatus.SURVEILLANCE,
                FileStatus.WAITING,
                FileStatus.PAUSED,
                FileStatus.FINISHED,
                FileStatus.ABANDONED,
            ],
            weights=[50, 25, 6, 4, 12, 3],
        )[0]


def _ensure_reference_data(*, passwords: Mapping[str, str] | None = None) -> tuple[dict, list[str]]:
    """Create the practice, practitioners, chairs, natures, correspondents and demo accounts when
    missing. Existing rows are left as they are (an administrator may have edited them). A new
    account's password is ``passwords[username]``, else the shared DEMO_PASSWORD. Returns the
    reference rows and the usernames of the accounts created."""
    practice, _ = Practice.objects.get_or_create(pk=1)
    default_name = Practice._meta.get_field("name").default
    if practice.name == default_name and not practice.address1 and not practice.city:
        for key, value in PRACTICE.items():
            setattr(practice, key, value)
        practice.save()

    practitioners = {}
    for civility, last, first, initials, color, email, mobile in PRACTITIONERS:
        practitioners[initials], _ = Practitioner.objects.get_or_create(
            initials=initials,
            defaults={
                "civility": civility,
                "last_name": last,
                "first_name": first,
                "color": color,
                "email": email,
                "mobile": mobile,
            },
        )
    chairs = {}
    for code, label in CHAIRS:
        chairs[code], _ = Chair.objects.get_or_create(code=code, defaults={"label": label})
    natures = {}
    for code, label, minutes, color, _weight in NATURES:
        natures[code], _ = Nature.objects.get_or_create(
            code=code, defaults={"label": label, "default_duration": minutes, "color": color}
        )

    relationship_rng = random.Random(7)
    for civility, last, first, specialty, sex, city, postcode in CORRESPONDENTS:
        correspondent, created = Correspondent.objects.get_or_create(
            last_name=last,
            first_name=first,
            defaults={
                "civility": civility,
                "specialty": specialty,
                "city": city,
                "postcode": postcode,
                "address1": f"{relationship_rng.randint(1, 60)} {relationship_rng.choice(STREETS)}",
                "email": f"{normalize_search(first + ' ' + last).lower().replace(' ', '.')}@example.org",
                "phone": f"+33380{relationship_rng.randrange(100000, 999999)}",
            },
        )
        if created:
            for practitioner in practitioners.values():
                if relationship_rng.random() < 0.6:
                    friend = relationship_rng.random() < 0.3
                    if sex == "F":
                        word = (
                            CorrespondentRelationship.AMIE if friend else CorrespondentRelationship.CONSOEUR
                        )
                    else:
                        word = CorrespondentRelationship.AMI if friend else CorrespondentRelationship.CONFRERE
                    CorrespondentLink.objects.get_or_create(
                        correspondent=correspondent,
                        practitioner=practitioner,
                        defaults={"relationship": word},
                    )

    User = get_user_model()
    accounts_created = []
    for username, first, last, role, staff, initials in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@cabinet-du-parc.example.com",
                "is_staff": staff,
                "is_superuser": staff,
            },
        )
        if created:
            user.set_password((passwords or {}).get(username, DEMO_PASSWORD))
            user.save(update_fields=["password"])
            accounts_created.append(username)
        user.groups.add(Group.objects.get_or_create(name=role)[0])
        if initials and practitioners[initials].user_id is None and not hasattr(user, "practitioner"):
            practitioners[initials].user = user
            practitioners[initials].save(update_fields=["user"])
    # Templates, the demo email account (on the demo SMTP server) and the seeds' treatments,
    # inactive: a new user finds something to preview, send and test.
    from scheduler.demo import ensure_demo_treatments

    ensure_demo_treatments()
    return {"practitioners": practitioners, "chairs": chairs, "natures": natures}, accounts_created


def _create_patients(gen: _Generator, *, count: int, ref: dict, batch_size: int) -> array:
    """Write ``count`` patients (with their families and guardians) in batches; return their ids."""
    rng = gen.rng
    practitioner_ids = [p.pk for p in ref["practitioners"].values()]
    correspondent_ids = list(Correspondent.objects.values_list("pk", flat=True))
    ids = array("q")
    file_numbers = itertools.count(1)
    households = gen.households()
    remaining = count
    while remaining > 0:
        batch: list[_Household] = []
        size = 0
        while size < min(batch_size, remaining):
            house = next(households)
            house.patients = house.patients[: remaining - size]
            batch.append(house)
            size += len(house.patients)
        remaining -= size

        families = [
            Family(name=f"Famille {h.last_name.upper()} ({h.address['city']})") for h in batch if h.family
        ]
        Family.objects.bulk_create(families)
        guardians = [
            Guardian(**{k: v for k, v in h.guardian.items() if k != "sex"}) for h in batch if h.guardian
        ]
        Guardian.objects.bulk_create(guardians)
        family_iter, guardian_iter = iter(families), iter(guardians)

        patients = []
        for house in batch:
            family = next(family_iter) if house.family else None
            guardian = next(guardian_iter) if house.guardian else None
            for data in house.patients:
                financial = data.pop("financial", False)
                minor = data["civility"] == Civility.ENFANT
                patient = Patient(
                    file_number=str(next(file_numbers)),
                    file_status=gen.file_status(),
                    practitioner_id=rng.choice(practitioner_ids),
                    family=family,
                    civil_guardian=guardian if minor else None,
                    financial_guardian=guardian if (minor or financial) else None,
                    remark=rng.choice(PATIENT_REMARKS) if rng.random() < 0.04 else "",
                    **data,
                )
                # bulk_create skips save(): the search keys are set here, as save() would.
                patient.set_search_keys()
                patients.append(patient)
        Patient.objects.bulk_create(patients)
        ids.extend(p.pk for p in patients)

        if correspondent_ids:
            links = [
                PatientCorrespondent(
                    patient_id=p.pk,
                    correspondent_id=rng.choice(correspondent_ids),
                    role=rng.choice(["Dentiste traitant", "Médecin traitant", "Orthodontiste"]),
                )
                for p in patients
                if rng.random() < 0.15
            ]
            PatientCorrespondent.objects.bulk_create(links)
    return ids


def _add_album_images(patient_ids: array, *, today: dt.date, count: int = 6) -> None:
    """A few images in the first patients' albums, so that email attachments can be tried."""
    plan = [
        (ImageType.PANORAMIC, ImageSubtype.NONE, ImageStage.INITIAL, "Panoramique initiale", 120),
        (ImageType.INTRAORAL, ImageSubtype.FACE, ImageStage.IN_PROGRESS, "Photo intra-orale de face", 30),
    ]
    for n, patient_id in enumerate(patient_ids[:count]):
        for kind, subtype, stage, label, days_ago in plan:
            image = PatientImage(
                patient_id=patient_id,
                image_type=kind,
                subtype=subtype,
                stage=stage,
                label=label,
                taken_on=today - dt.timedelta(days=days_ago),
            )
            image.file.save(f"{kind}-{n + 1}.png", ContentFile(_png(seed=n * 31 + days_ago)), save=True)


def _appointments(
    gen: _Generator, *, patient_ids: array, ref: dict, now: dt.datetime, total: int | None
) -> Iterator[dict]:
    """Appointments on the working days from six months back to six months ahead, agenda by
    agenda (one practitioner on one chair for one day). ``total=None`` fills each agenda like a
    real day (10 to 15 appointments, never overlapping on a chair); a number spreads exactly that many over the agendas, laying
    extra ones over the same hours when the days are full (benchmark volume, not a real agenda)."""
    rng = gen.rng
    tz = timezone.get_default_timezone()
    today = timezone.localtime(now, tz).date()
    agendas = [
        (day, ref["practitioners"][initials], ref["chairs"][chair])
        for day in working_days(add_months(today, -MONTHS_BACK), add_months(today, MONTHS_FORWARD))
        for initials, chair in AGENDAS[day.weekday()]
    ]
    if total is None:
        per_agenda = [rng.randint(10, 15) for _ in agendas]
    else:
        base, extra = divmod(total, len(agendas))
        per_agenda = [base + (1 if i < extra else 0) for i in range(len(agendas))]

    natures = [ref["natures"][code] for code, *_ in NATURES]
    nature_weights = list(itertools.accumulate(w for *_, w in NATURES))
    past_weights = list(itertools.accumulate(w for *_, w in PAST_STATES))
    future_weights = list(itertools.accumulate(w for *_, w in FUTURE_STATES))
    gaps = [0, 0, 0, 0, 10, 10, 20, 30] if total is None else [0]

    for (day, practitioner, chair), count in zip(agendas, per_agenda, strict=True):
        clock = dt.datetime.combine(day, MORNING[0])
        for _ in range(count):
            nature = rng.choices(natures, cum_weights=nature_weights)[0]
            minutes = nature.default_duration
            clock += dt.timedelta(minutes=rng.choice(gaps))
            if MORNING[1] < (clock + dt.timedelta(minutes=minutes)).time() and clock.time() < AFTERNOON[0]:
                clock = dt.datetime.combine(day, AFTERNOON[0])
            if (clock + dt.timedelta(minutes=minutes)).time() > AFTERNOON[1]:
                if total is None:
                    break  # a real day ends when the chair is fully booked
                clock = dt.datetime.combine(day, MORNING[0])  # benchmark volume: a new layer
            start = clock.replace(tzinfo=tz)
            clock += dt.timedelta(minutes=minutes)

            if start < now:
                state, cancelled_by, _w = rng.choices(PAST_STATES, cum_weights=past_weights)[0]
            else:
                state, cancelled_by, _w = rng.choices(FUTURE_STATES, cum_weights=future_weights)[0]
            booked = start - dt.timedelta(days=rng.randint(1, 90), minutes=rng.randint(0, 600))
            external = rng.random() < 0.005
            yield dict(
                patient_id=None if external else patient_ids[rng.randrange(len(patient_ids))],
                external=external,
                external_name=rng.choice(EXTERNAL_PEOPLE) if external else "",
                practitioner_id=practitioner.pk,
                chair_id=chair.pk,
                nature_id=nature.pk,
                start=start,
                duration=minutes,
                state=state,
                cancelled_by=cancelled_by,
                urgent=nature.code == "URG",
                remark=rng.choice(APPOINTMENT_REMARKS) if rng.random() < 0.03 else "",
                created_at=min(booked, now),
            )


def _insert_appointments(
    rows: Iterator[dict], *, now: dt.datetime, batch_size: int, log: Callable[[str], None], started: float
) -> int:
    """Write the appointment rows (attname -> value) by batches; return how many were written.

    On PostgreSQL the rows are streamed with COPY: at a million rows, building a model instance
    and preparing every field through bulk_create costs several times the insert itself. Columns
    the generator does not set get the field's default (``now`` for auto_now fields), so a new
    field with a default needs no change here. Other databases (SQLite for `make run`) use
    bulk_create, which does the same from the same rows.
    """
    fields = [f for f in Appointment._meta.concrete_fields if not f.primary_key]
    defaults = {
        f.attname: now
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        else f.get_default()
        for f in fields
    }
    made = 0
    with connection.cursor() as cursor:
        for chunk in _chunks(rows, batch_size):
            if connection.vendor == "postgresql":
                table = connection.ops.quote_name(Appointment._meta.db_table)
                columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
                with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in chunk:
                        copy.write_row([row.get(f.attname, defaults[f.attname]) for f in fields])
            else:
                Appointment.objects.bulk_create(Appointment(**row) for row in chunk)
            made += len(chunk)
            if made % (batch_size * 20) == 0:
                log(gettext("%(n)s rendez-vous créés (%(seconds)s s)") % {"n": made,
                                                                      "seconds": f"{time.monotonic() - started:.1f}"})
    return made


def _refresh_statistics() -> None:
    """Give the planner statistics on the freshly loaded tables (and, on PostgreSQL, the visibility
    map and hint bits), so that the first searches after a benchmark load are not measured
    against an unanalysed million rows. Skipped inside an outer transaction (VACUUM cannot run
    there); autovacuum catches up later."""
    if connection.in_atomic_block:
        return
    tables = [
        model._meta.db_table for model in (Patient, Appointment, Guardian, Family, PatientCorrespondent)
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM (ANALYZE) " + ", ".join(connection.ops.quote_name(t) for t in tables))
        else:
            cursor.execute("ANALYZE")


def _accept_news(patient_ids: list[int], *, today: dt.date, now: dt.datetime) -> int:
    """One adult in three accepted the practice's news (``news_consent``), so a news campaign in
    the demo reaches some patients and leaves the others out with the reason. Chosen by id, not
    by the generator's random stream: the rest of the demo stays the same. One UPDATE."""
    adult = dt.date(today.year - 18, today.month, min(today.day, 28))  # 18 or older, near enough
    ids = [pk for pk in patient_ids if pk % 3 == 0]
    return Patient.objects.filter(pk__in=ids, birth_date__lte=adult).update(news_consent=True, news_consent_at=now)


def seed_demo(
    *,
    patients: int = DEFAULT_PATIENTS,
    appointments: int | None = None,
    now: dt.datetime,
    seed: int = DEFAULT_SEED,
    if_empty: bool = False,
    batch_size: int = BATCH_SIZE,
    passwords: Mapping[str, str] | None = None,
    log: Callable[[str], None] = lambda _message: None,
) -> DemoSummary:
    """Build the demo practice around ``now`` (appointments six months either side).

    ``appointments=None`` fills the agendas like a real practice (about 5,600 over the year);
    a number creates exactly that many. With ``if_empty`` nothing at all is done when a patient
    exists; otherwise the reference data and demo accounts are completed and patients and
    appointments are generated only into a database without patients. All in one transaction:
    an interrupted seed leaves nothing half-built. ``passwords`` (username -> password) replaces
    the shared DEMO_PASSWORD of the accounts it creates (seed_demo --allow-production).
    """
    if patients < 1:
        raise ValueError(gettext("Il faut au moins un patient."))
    if appointments is not None and appointments < 0:
        raise ValueError(gettext("Le nombre de rendez-vous ne peut pas être négatif."))
    started = time.monotonic()
    if if_empty and Patient.objects.exists():
        return DemoSummary(
            created=False,
            patients=Patient.objects.count(),
            appointments=Appointment.objects.count(),
            message=gettext("La base contient déjà des patients : la démo n'est pas chargée."),
        )
    with transaction.atomic():
        ref, accounts_created = _ensure_reference_data(passwords=passwords)
        if Patient.objects.exists():
            return DemoSummary(
                created=False,
                patients=Patient.objects.count(),
                appointments=Appointment.objects.count(),
                message=gettext("La base contient déjà des patients : aucun patient ni rendez-vous ajouté."),
                accounts_created=accounts_created,
            )
        gen = _Generator(seed=seed, today=timezone.localtime(now).date())
        patient_ids = _create_patients(gen, count=patients, ref=ref, batch_size=batch_size)
        log(gettext("%(n)s patients créés (%(seconds)s s)") % {"n": len(patient_ids),
                                                               "seconds": f"{time.monotonic() - started:.1f}"})
        _add_album_images(patient_ids, today=gen.today)
        _accept_news(patient_ids, today=gen.today, now=now)
        rows = _appointments(gen, patient_ids=patient_ids, ref=ref, now=now, total=appointments)
        made = _insert_appointments(rows, now=now, batch_size=batch_size, log=log, started=started)
    _refresh_statistics()
    seconds = time.monotonic() - started
    return DemoSummary(
        created=True,
        patients=len(patient_ids),
        appointments=made,
        seconds=seconds,
        accounts_created=accounts_created,
        message=gettext("Démo créée : %(patients)s patients, %(appointments)s rendez-vous en %(seconds)s s.") % {
            "patients": len(patient_ids), "appointments": made, "seconds": f"{seconds:.1f}"},
    )
