"""The administration commands (``manage.py …``) speak the practice's language: its "Langue de
l'interface par défaut", else LANGUAGE_CODE; their help as well as what they print. Django itself
activates no language for a command."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError
from django.utils import translation

from practice.models import Practice
from tests.factories import AppointmentFactory, PatientFactory

from .conftest import paris

pytestmark = pytest.mark.django_db


def _speak(language: str) -> None:
    practice = Practice.get()
    practice.language = language
    practice.save()


def test_runjob_dry_run_in_english_for_an_english_practice(reminder, practitioner):
    _speak("en")
    AppointmentFactory(patient=PatientFactory(first_name="Emma", last_name="Ablirant"), practitioner=practitioner,
                       start=paris(2025, 11, 22, 10))
    out = StringIO()
    call_command("runjob", str(reminder.pk), "--date", "2025-11-21", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "Rappel RDV J+1 (SMS) – run of Friday 21/11/2025, searching 22/11/2025" in text
    assert "1 patient concerned, 1 message would be sent" in text
    assert "- SMS to ABLIRANT Emma (06.84.28.55.60) [would be sent]" in text
    for french in ("exécution du", "concerné", "serait envoyé"):
        assert french not in text
    # The practice's own SMS text is the practice's, never translated.
    assert "nous vous rappelons votre RDV" in text
    with pytest.raises(CommandError, match="Treatment not found: inconnu"):
        call_command("runjob", "inconnu")
    assert translation.get_language() != "en"  # the caller's language is given back


def test_dispatch_follows_language_code_when_the_practice_has_none(settings):
    settings.LANGUAGE_CODE = "en"
    out = StringIO()
    call_command("dispatch", stdout=out)
    assert out.getvalue().splitlines()[:2] == ["Sent: 0", "Failed: 0"]


def test_a_french_practice_gets_french_whatever_was_active():
    out = StringIO()
    with translation.override("en"):
        call_command("dispatch", stdout=out)
    assert out.getvalue().splitlines()[:2] == ["Envoyés : 0", "En échec : 0"]


def test_help_in_the_practices_language(capsys):
    _speak("en")
    with pytest.raises(SystemExit):
        ManagementUtility(["manage.py", "runjob", "--help"]).execute()
    help_text = " ".join(capsys.readouterr().out.split())
    assert "Runs a scheduler treatment for a date" in help_text
    assert "show without sending or creating a run" in help_text
    assert "Exécute" not in help_text
    ManagementUtility(["manage.py", "help", "dispatch"]).execute()
    help_text = " ".join(capsys.readouterr().out.split())
    assert "Sends the waiting messages that are due now" in help_text
    assert "Only the messages of this mailing (number)." in help_text


def test_help_in_french_by_default(capsys):
    with pytest.raises(SystemExit):
        ManagementUtility(["manage.py", "sendtestsms", "--help"]).execute()
    help_text = " ".join(capsys.readouterr().out.split())
    assert "Envoie un SMS de test par la chaîne d'envoi complète" in help_text
    assert "Numéro de portable" in help_text
