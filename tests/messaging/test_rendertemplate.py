"""manage.py rendertemplate prints what the preview shows."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from messaging.models import EmailAccount, EmailTemplate, Signature, SmsTemplate, TemplateCategory
from tests.factories import AppointmentFactory, PatientFactory, PractitionerFactory

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("rendertemplate", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def patient():
    return PatientFactory(last_name="Ghienne", first_name="Eireen", file_number="2574")


def test_sms_with_the_next_appointment(patient):
    category = TemplateCategory.objects.create(name="Rendez-vous")
    sms = SmsTemplate.objects.create(category=category, title="Rappel",
                                     body="Bonjour @PPREN, RDV le @RDV1. Empêché ? Appelez-nous.")
    start = timezone.make_aware(dt.datetime.combine(timezone.localdate() + dt.timedelta(days=2), dt.time(9, 40)))
    AppointmentFactory(patient=patient, start=start, practitioner=PractitionerFactory(initials="MM"))

    out, err = run(str(sms.pk), "--patient", "2574")

    text = f"Bonjour Eireen, RDV le {timezone.localtime(start):%d/%m/%Y} à 09h40. Empêché ? Appelez-nous."
    assert out == text + "\n"
    assert "UCS-2" in err and "1 SMS" in err
    assert "Avertissement" not in err


def test_sms_without_appointment_warns(patient):
    category = TemplateCategory.objects.create(name="Rendez-vous")
    sms = SmsTemplate.objects.create(category=category, title="Rappel", body="RDV le @RDV1")
    out, err = run(str(sms.pk), "--patient", "2574")
    assert out.strip() == "RDV le"
    assert "Avertissement : @RDV1" in err


def test_email_with_signature(patient):
    category = TemplateCategory.objects.create(name="Patients")
    account = EmailAccount.objects.create(name="Cabinet", email="c@cabinet.test", smtp_host="smtp.cabinet.test")
    signature = Signature.objects.create(label="Dr", body_html="<p>Dr Molaire</p>", placement="header")
    template = EmailTemplate.objects.create(category=category, label="Bienvenue", account=account,
                                            signature=signature, subject="Bienvenue @PPREN",
                                            body_html="<p>Bonjour <b>@PPREN @PNOM</b></p>")

    out, _err = run(str(template.pk), "--patient", "2574", "--email", "--html")

    assert out.startswith("Objet : Bienvenue Eireen\n\nDr Molaire")
    assert out.index("Dr Molaire") < out.index("Bonjour Eireen GHIENNE")
    assert "<b>Eireen GHIENNE</b>" in out


def test_unknown_ids_are_clear_errors(patient):
    with pytest.raises(CommandError, match="Aucun SMS type n'a l'identifiant 999"):
        run("999", "--patient", "2574")
    category = TemplateCategory.objects.create(name="R")
    sms = SmsTemplate.objects.create(category=category, title="R", body="x")
    with pytest.raises(CommandError, match="numéro de dossier 0000"):
        run(str(sms.pk), "--patient", "0000")
    with pytest.raises(CommandError, match="n'est pas un rendez-vous de ce patient"):
        run(str(sms.pk), "--patient", "2574", "--appointment", str(AppointmentFactory().pk))
