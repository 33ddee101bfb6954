"""Text that ends up in an email header (display names, subjects, the names merged into subjects)
refuses line breaks and control characters on every path in (models, so the admin too; the
settings pages, the send window, campaigns, mass mailings, patient pages, CSV imports); what is
already stored with one fails only its own message at sending, with the reason."""

from __future__ import annotations

import email as email_lib
import io

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import escape

from messaging.backends import SendError
from messaging.backends.email import check_header_values
from messaging.csv_import import CsvContacts, EntryError, ListEntry
from messaging.demo import ensure_demo_messaging
from messaging.dispatch import dispatch_pending
from messaging.models import (
    Campaign,
    CampaignRecipient,
    Channel,
    EmailAccount,
    EmailTemplate,
    Message,
    MessageStatus,
    SavedMessage,
    TemplateCategory,
)
from messaging.services import email_account_test
from patients.models import Correspondent, Guardian, Patient, Practitioner
from practice.models import Practice
from practice.validators import header_text_problem, validate_header_text
from scheduler.models import Treatment
from tests.factories import AppointmentFactory, PatientFactory
from tests.messaging.sending_helpers import NOON, make_account
from tests.messaging.test_smtp import _mailing, smtp  # noqa: F401  (the real SMTP server fixture)
from tests.patients.test_views import patient_post

pytestmark = pytest.mark.django_db

LINE_BREAK = "Retour à la ligne interdit"


@pytest.mark.parametrize("value", ["Cabinet\nBcc: x@evil.test", "Cabinet\r\n", "a\rb", "a\u2028b", "a\x85b"])
def test_line_breaks_are_refused_with_a_french_message(value):
    with pytest.raises(ValidationError) as info:
        validate_header_text(value)
    assert LINE_BREAK in info.value.messages[0]


@pytest.mark.parametrize("value", ["a\tb", "a\x00b", "a\x07b", "a\x7fb"])
def test_other_control_characters_are_refused(value):
    with pytest.raises(ValidationError, match="Caractère interdit"):
        validate_header_text(value)


@pytest.mark.parametrize("value", ["", "Cabinet du Dr Molaire", "Rappel : RDV le @RDV1 à @HRDV1", "N'Guessan-Élodie « Ç »"])
def test_ordinary_text_passes(value):
    validate_header_text(value)


# Every model field whose text reaches an email header: the admin and every ModelForm refuse.
HEADER_FIELDS = [
    (EmailAccount, "display_name"),
    (EmailTemplate, "subject"),
    (SavedMessage, "subject"),
    (Campaign, "subject"),
    (CampaignRecipient, "last_name"),
    (CampaignRecipient, "first_name"),
    (Practitioner, "last_name"),
    (Practitioner, "first_name"),
    (Patient, "last_name"),
    (Patient, "first_name"),
    (Patient, "second_first_name"),
    (Guardian, "last_name"),
    (Guardian, "first_name"),
    (Guardian, "maiden_name"),
    (Correspondent, "last_name"),
    (Correspondent, "first_name"),
    (Practice, "name"),
    (Treatment, "title"),
]


@pytest.mark.parametrize(("model", "name"), HEADER_FIELDS, ids=[f"{m.__name__}.{n}" for m, n in HEADER_FIELDS])
def test_model_fields_refuse_line_breaks(model, name):
    field = model._meta.get_field(name)
    with pytest.raises(ValidationError, match=LINE_BREAK):
        field.clean("Dupont\nBcc: x@evil.test", None)


# ---------------------------------------------------------------------------------------------
# The forms
# ---------------------------------------------------------------------------------------------


def _account_post(**overrides):
    data = {
        "name": "Secrétariat", "email": "contact@cabinet.test", "display_name": "Cabinet",
        "smtp_host": "smtp.cabinet.test", "smtp_port": 587, "security": "starttls", "timeout": 30,
        "username": "", "new_password": "", "active": "on",
    }
    data.update(overrides)
    return data


def test_the_account_page_and_the_admin_refuse_a_display_name_with_a_line_break(admin_client):
    response = admin_client.post(reverse("messaging:account_create"),
                                 _account_post(display_name="Cabinet\r\nBcc: tous@patients.test"))
    assert response.status_code == 200 and escape(LINE_BREAK) in response.content.decode()
    response = admin_client.post(reverse("admin:messaging_emailaccount_add"),
                                 _account_post(display_name="Cabinet\nBcc: tous@patients.test"))
    assert response.status_code == 200 and escape(LINE_BREAK) in response.content.decode()
    assert not EmailAccount.objects.exists()


def test_the_email_type_page_refuses_a_subject_with_a_line_break(admin_client):
    account = make_account()
    category = TemplateCategory.objects.create(name="Rendez-vous")
    data = {"category": category.pk, "label": "Rappel", "account": account.pk, "recipient_role": "patient",
            "subject": "Rappel\r\nBcc: tous@patients.test", "body_html": "<p>Bonjour</p>", "active": "on"}
    response = admin_client.post(reverse("messaging:email_create"), data)
    assert response.status_code == 200 and escape(LINE_BREAK) in response.content.decode()
    assert not EmailTemplate.objects.exists()


def test_the_send_window_refuses_a_subject_with_a_line_break(assistant_client):
    account = ensure_demo_messaging()
    patient = PatientFactory(first_name="Emma")
    response = assistant_client.post(reverse("sending:email", args=[patient.pk]), {
        "recipients": [f"patient:{patient.email}"], "account": account.pk,
        "subject": "Votre devis\nBcc: x@evil.test", "body_html": "<p>Bonjour</p>", "token": "h1",
    })
    assert response.status_code == 200 and escape(LINE_BREAK) in response.content.decode()
    assert not Message.objects.exists()


def test_a_campaign_refuses_a_subject_with_a_line_break(assistant_client):
    account = make_account()
    response = assistant_client.post(reverse("campaigns:create"), {
        "name": "Vacances", "channel": "email", "kind": "soins", "account": account.pk,
        "subject": "Fermeture\r\nBcc: x@evil.test", "body": "Fermé en août.", "pasted": "a@patients.test",
    })
    assert response.status_code == 200 and escape(LINE_BREAK) in response.content.decode()
    assert not Campaign.objects.exists()


def test_a_mass_mailing_refuses_a_subject_with_a_line_break_instead_of_folding_it(assistant_client):
    account = make_account()
    a = AppointmentFactory()
    key = assistant_client.post(
        reverse("mass:start"), {"search": "rendez-vous", "channel": "email", "ids": [a.pk]}
    ).url.split("/")[-3]
    response = assistant_client.post(reverse("mass:message", args=[key]), {
        "body": "<p>Bonjour</p>", "subject": "Rappel\nBcc: x@evil.test", "account": account.pk,
    })
    assert response.status_code == 200 and escape(LINE_BREAK) in response.content.decode()


def test_the_patient_page_refuses_a_name_with_a_line_break(assistant_client):
    response = assistant_client.post(reverse("patients:create"), patient_post(last_name="Ghienne\r\nBcc: x"))
    assert response.status_code == 200 and escape(LINE_BREAK) in response.content.decode()
    assert not Patient.objects.filter(last_name__startswith="Ghienne").exists()


def test_the_family_member_form_refuses_a_first_name_with_a_line_break():
    from patients.forms import FamilyMemberForm

    form = FamilyMemberForm(data={"first_name": "Léa\nBcc: x", "sex": "", "birth_date": ""})
    assert not form.is_valid() and LINE_BREAK in form.errors["first_name"][0]


def test_the_admin_refuses_a_practitioner_name_with_a_line_break(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@cabinet.test", "x"))
    response = client.post(reverse("admin:patients_practitioner_add"),
                           {"last_name": "Molaire\nBcc: x", "first_name": "Marc", "initials": "MM", "active": "on"})
    assert response.status_code == 200 and escape(LINE_BREAK) in response.content.decode()
    assert not Practitioner.objects.exists()


def test_a_csv_list_refuses_the_line_with_a_name_on_two_lines_and_keeps_the_others():
    data = 'Nom;Prénom;Email\nDUPONT;Jean;jean@patients.test\n"MARTIN\nBcc: x@evil.test";Léa;lea@patients.test\n'
    rows = list(CsvContacts(io.BytesIO(data.encode()), channel=Channel.EMAIL).rows())
    assert [r.address for r in rows if isinstance(r, ListEntry)] == ["jean@patients.test"]
    [error] = [r for r in rows if isinstance(r, EntryError)]
    assert error.line == 3 and LINE_BREAK in error.reason and error.reason.startswith("Nom ou prénom")


# ---------------------------------------------------------------------------------------------
# Already stored: fail that message only, with the reason
# ---------------------------------------------------------------------------------------------


def test_check_header_values_names_the_field():
    from django.core.mail import EmailMessage

    with pytest.raises(SendError) as info:
        check_header_values(EmailMessage(subject="Rappel\nBcc: x", from_email="a@b.test", to=["c@d.test"]))
    assert info.value.permanent and info.value.code == "header"
    assert "l'objet contient un retour à la ligne" in info.value.message and "Rappel\\nBcc: x" in info.value.message
    check_header_values(EmailMessage(subject="Rappel", from_email="Cabinet <a@b.test>", to=["c@d.test"]))


@pytest.mark.parametrize("display_name", ["Cabinet\r\nBcc: tous@patients.test", "Cabinet dentaire Élysée\nBcc: x"])
def test_a_display_name_stored_with_a_line_break_fails_that_accounts_messages_only(smtp, display_name):  # noqa: F811
    bad = make_account(name="Ancien", smtp_port=smtp.port)
    EmailAccount.objects.filter(pk=bad.pk).update(display_name=display_name)  # as an old row would hold it
    bad.refresh_from_db()
    good = make_account(name="Secrétariat", smtp_port=smtp.port, email="accueil@cabinet.test")
    blocked = _mailing(bad, ["a@patients.test", "b@patients.test"])
    fine = _mailing(good, ["c@patients.test", "d@patients.test"], subject="Autre")

    result = dispatch_pending(now=NOON)  # one batch, one task: it does not stop at the bad account

    assert (result.sent, result.failed) == (2, 2)
    for m in blocked.messages.all():
        # dispatch's own check (messaging.dispatch._check_headers) catches an ASCII display name
        # first, as a "config" error; the sender's check_header_values catches the rest (a
        # non-ASCII name is MIME-encoded in From, where the line break no longer shows).
        assert m.status == MessageStatus.FAILED
        assert m.error_code in ({"header", "config"} if display_name.isascii() else {"header"})
        assert "compte email « Ancien » contient un retour à la ligne" in m.reason
        assert "Paramétrage → Comptes email" in m.reason
    assert {m.status for m in fine.messages.all()} == {MessageStatus.SENT}
    assert sorted(msg["To"] for msg in smtp.received) == ["c@patients.test", "d@patients.test"]
    assert all("Bcc" not in str(msg) for msg in smtp.received)


def test_a_message_stored_with_a_bad_subject_fails_alone_in_its_mailing(smtp):  # noqa: F811
    account = make_account(smtp_port=smtp.port)
    mailing = _mailing(account, ["a@patients.test", "b@patients.test", "c@patients.test"])
    Message.objects.filter(mailing=mailing, to="b@patients.test").update(subject="Rappel\r\nBcc: x@evil.test")

    dispatch_pending(now=NOON)

    status = {m.to: m for m in mailing.messages.all()}
    assert status["b@patients.test"].status == MessageStatus.FAILED
    assert status["b@patients.test"].error_code == "header"
    assert "objet contient un retour à la ligne" in status["b@patients.test"].reason.lower()
    assert status["a@patients.test"].status == status["c@patients.test"].status == MessageStatus.SENT
    received = sorted(msg["To"] for msg in smtp.received)
    assert received == ["a@patients.test", "c@patients.test"]
    assert all(str(email_lib.header.make_header(email_lib.header.decode_header(m["Subject"]))) == "Rappel de rendez-vous"
               for m in smtp.received)


def test_the_account_test_reports_a_stored_line_break_instead_of_crashing():
    account = make_account()
    EmailAccount.objects.filter(pk=account.pk).update(display_name="Cabinet\nBcc: x")
    account.refresh_from_db()
    result = email_account_test(account=account)
    assert not result.ok and "contient un retour à la ligne" in result.message


def test_header_text_problem_is_empty_for_good_text():
    assert header_text_problem("Secrétariat du cabinet") == ""
