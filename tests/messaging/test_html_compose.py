import datetime as dt

import pytest
from django.utils import timezone

from messaging.compose import compose_email, compose_sms
from messaging.html import clean_html, html_to_text
from messaging.models import Signature
from tests.factories import AppointmentFactory, PatientFactory, PractitionerFactory


@pytest.mark.parametrize(
    "dirty, forbidden",
    [
        ("<p>Bonjour</p><script>alert(1)</script>", "<script"),
        ('<img src="x" onerror="alert(1)">', "onerror"),
        ('<a href="javascript:alert(1)">clic</a>', "javascript:"),
        ('<p style="color: red; background-image: url(http://evil)">x</p>', "url("),
        ('<iframe src="https://evil"></iframe>', "<iframe"),
        ('<p onclick="steal()">x</p>', "onclick"),
    ],
)
def test_clean_html_removes_what_could_run(dirty, forbidden):
    assert forbidden not in clean_html(dirty)


def test_clean_html_keeps_formatting():
    html = (
        '<p><strong>Gras</strong> <em>italique</em> <span style="color: #ff0000">rouge</span></p>'
        '<ul><li>un</li></ul><a href="https://cabinet.fr">site</a>'
    )
    cleaned = clean_html(html)
    for kept in ("<strong>Gras</strong>", "<em>italique</em>", 'style="color: #ff0000"', "<li>un</li>",
                 'href="https://cabinet.fr"'):
        assert kept in cleaned


def test_plain_text_alternative():
    html = '<p>Bonjour <b>Emma</b>,</p><p>Ligne 1<br>Ligne 2</p><ul><li>un</li><li>deux</li></ul>' \
           '<ol><li>premier</li></ol><p><a href="https://cabinet.fr/plan">Plan d&#39;accès</a></p>'
    assert html_to_text(html) == (
        "Bonjour Emma,\n\nLigne 1\nLigne 2\n\n- un\n- deux\n\n1. premier\n\n"
        "Plan d'accès (https://cabinet.fr/plan)"
    )


@pytest.mark.django_db
def test_compose_sms_counts_the_merged_text():
    dr = PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    appt = AppointmentFactory(
        patient=PatientFactory(first_name="Zoé", last_name="Zimmer"),
        practitioner=dr,
        start=timezone.make_aware(dt.datetime(2019, 11, 19, 8, 20)),
    )
    sms = compose_sms(body="RDV de @PPREN le @RDV1 avec le @PRAT.", appointment=appt)
    assert sms.text == "RDV de Zoé le 19/11/2019 à 08h20 avec le Dr MOLAIRE Marc."
    assert (sms.segments.encoding, sms.segments.parts) == ("GSM-7", 1)
    assert sms.warnings == []


@pytest.mark.django_db
@pytest.mark.parametrize("placement", ["footer", "header"])
def test_compose_email_places_the_signature(placement):
    patient = PatientFactory(first_name="Emma", last_name="Ablirant")
    signature = Signature.objects.create(label="Dr", body_html="<p>Dr @PRATNOM</p>", placement=placement)
    email = compose_email(
        subject="Votre dossier\n@PDOSS", body_html="<p>Bonjour @PPREN</p>", signature=signature, patient=patient
    )
    assert email.subject == f"Votre dossier {patient.file_number}"
    body_pos, sig_pos = email.html.index("Bonjour Emma"), email.html.index('class="signature"')
    assert (sig_pos > body_pos) == (placement == "footer")
    assert "Bonjour Emma" in email.text
    # The patient has no referring practitioner: the signature's field is reported.
    assert any("@PRATNOM" in w for w in email.warnings)
