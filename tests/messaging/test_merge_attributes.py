"""Merged HTML is cleaned again: a patient's data placed in a link cannot make it active
(issue 13); data: links are dropped; merge codes in attributes are checked at save time."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from messaging.compose import compose_email
from messaging.dispatch import dispatch_pending
from messaging.html import clean_html
from messaging.models import Channel, EmailTemplate, MailingOrigin, Signature, TemplateCategory
from messaging.outbox import mailing_create
from messaging.recipients import recipients_for
from tests.factories import PatientFactory
from tests.messaging.sending_helpers import NOON, make_account

pytestmark = pytest.mark.django_db

HOSTILE_ADDRESS = "javascript:alert(document.cookie)"
BODY = '<p>Bonjour @PPREN,</p><p><a href="@PADR1">Votre adresse</a></p>'


def hostile_patient():
    return PatientFactory(first_name="Emma", email="emma@patients.test", address1=HOSTILE_ADDRESS)


def test_compose_never_makes_a_javascript_link_from_a_patient_address():
    patient = hostile_patient()
    signature = Signature(label="Dr", body_html='<p><a href="@PADR1">Dr Molaire</a></p>', placement="footer")
    email = compose_email(subject="Bonjour", body_html=BODY, signature=signature, patient=patient, recipient=patient)
    assert "javascript:" not in email.html
    assert "<a>Votre adresse</a>" in email.html or '<a rel="noopener noreferrer">Votre adresse</a>' in email.html
    assert '<div class="signature">' in email.html  # the wrapper survives the cleaning
    assert "Bonjour Emma," in email.html


def test_the_email_the_patient_receives_has_no_active_link(assistant):
    patient = hostile_patient()
    mailing_create(
        channel=Channel.EMAIL, origin=MailingOrigin.PATIENT_FILE, requested_by=assistant,
        recipients=recipients_for(patient=patient, channel=Channel.EMAIL)[:1],
        email_subject="Votre adresse", email_body_html=BODY, account=make_account(),
    )
    dispatch_pending(now=NOON)
    assert len(mail.outbox) == 1
    html, mimetype = mail.outbox[0].alternatives[0]
    assert mimetype == "text/html"
    assert "javascript:" not in html and "Votre adresse</a>" in html
    assert "Bonjour Emma," in html
    raw = mail.outbox[0].message().as_bytes()
    assert b"javascript:" not in raw.replace(b"=\n", b"")


@pytest.mark.parametrize("link", [
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    " DATA:text/html,<script>alert(1)</script>",
])
def test_data_links_are_dropped_inline_images_kept(link):
    png = "data:image/png;base64,iVBORw0KGgo="
    cleaned = clean_html(f'<p><a href="{link}">clic</a><img src="{png}" alt="logo"></p>')
    assert "data:text" not in cleaned.lower() and "clic</a>" in cleaned
    assert f'src="{png}"' in cleaned


def test_a_data_link_in_a_merged_value_is_dropped_too():
    patient = PatientFactory(email="emma@patients.test", address1="data:text/html,<script>alert(1)</script>")
    email = compose_email(subject="x", body_html=BODY, patient=patient, recipient=patient)
    assert "data:" not in email.html


@pytest.fixture
def category():
    return TemplateCategory.objects.create(name="Rendez-vous")


def test_unknown_codes_inside_attributes_are_refused_at_save(admin_client, category):
    account = make_account()
    post = {
        "category": category.pk, "label": "Rappel", "account": account.pk, "signature": "",
        "recipient_role": "patient", "subject": "Rendez-vous", "save_sent": "on", "active": "on",
        "body_html": '<p>Écrivez-nous : <a href="mailto:@CABMAX" title="@PNON">ici</a></p>',
    }
    page = admin_client.post(reverse("messaging:email_create"), post).content.decode()
    assert "Le champ d&#x27;intégration @CABMAX n&#x27;existe pas." in page
    assert "Le champ d&#x27;intégration @PNON n&#x27;existe pas. Vouliez-vous dire @PNOM ?" in page
    assert not EmailTemplate.objects.exists()
    post["body_html"] = '<p>Écrivez-nous : <a href="mailto:@CABMAIL" title="@PNOM">ici</a></p>'
    assert admin_client.post(reverse("messaging:email_create"), post).status_code == 302
    page = admin_client.post(
        reverse("messaging:signature_create"),
        {"label": "Dr", "placement": "footer", "body_html": '<p><a href="https://cabinet.test" title="@LOGOX">Dr Molaire</a></p>'},
    ).content.decode()
    assert "Le champ d&#x27;intégration @LOGOX n&#x27;existe pas." in page
    assert not Signature.objects.exists()
