"""attachments_for: each rule resolved for one patient, with warnings for what is missing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.base import ContentFile

from messaging.attachments import attachments_for
from messaging.models import (
    AttachmentRule,
    EmailAccount,
    EmailTemplate,
    ExternalFile,
    ImagePick,
    TemplateCategory,
)
from patients.models import ImageStage, PatientImage
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def template():
    category = TemplateCategory.objects.create(name="Confrères")
    account = EmailAccount.objects.create(name="Cabinet", email="c@cabinet.test", smtp_host="smtp.cabinet.test")
    return EmailTemplate.objects.create(category=category, label="CR", account=account, subject="CR",
                                        body_html="<p>x</p>")


def image(patient, name, taken_on, stage=ImageStage.INITIAL, image_type="panoramique", subtype=""):
    img = PatientImage(patient=patient, image_type=image_type, subtype=subtype, stage=stage, taken_on=taken_on)
    img.file.save(name, ContentFile(b"\x89PNG fake " + name.encode()), save=False)
    img.save()
    return img


@pytest.fixture
def album():
    """Panoramics of one patient: initial (2019), final (2021-03), follow-up (2022, the most recent)."""
    patient = PatientFactory()
    image(patient, "pano-initial.png", dt.date(2019, 10, 2), ImageStage.INITIAL)
    image(patient, "pano-final.png", dt.date(2021, 3, 1), ImageStage.FINAL)
    image(patient, "pano-controle.jpg", dt.date(2022, 5, 4), ImageStage.FOLLOW_UP)
    image(patient, "face.jpg", dt.date(2023, 1, 1), image_type="extra_orale", subtype="face")
    image(patient, "profil.jpg", dt.date(2023, 1, 2), image_type="extra_orale", subtype="profil")
    # Another patient's images never leak in.
    image(PatientFactory(), "autre.png", dt.date(2024, 1, 1), ImageStage.FINAL)
    return patient


@pytest.mark.parametrize(
    "pick, expected",
    [
        (ImagePick.FIRST, "pano-initial.png"),
        (ImagePick.LAST, "pano-final.png"),  # final stage beats the later follow-up
        (ImagePick.MOST_RECENT, "pano-controle.jpg"),
    ],
)
def test_each_pick(template, album, pick, expected):
    AttachmentRule.objects.create(template=template, image_type="panoramique", image_pick=pick)

    found = attachments_for(template=template, patient=album)

    assert [a.filename for a in found] == [expected]
    assert found[0].source == "patient_image"
    assert found[0].mimetype == ("image/png" if expected.endswith(".png") else "image/jpeg")
    with open(found[0].path, "rb") as fh:
        assert fh.read().endswith(expected.encode())
    assert found.warnings == []


def test_last_without_final_takes_the_latest_stage_then_the_latest_date(template):
    patient = PatientFactory()
    image(patient, "en-cours-1.png", dt.date(2020, 1, 1), ImageStage.IN_PROGRESS)
    image(patient, "en-cours-2.png", dt.date(2020, 6, 1), ImageStage.IN_PROGRESS)
    image(patient, "initial-tardif.png", dt.date(2021, 1, 1), ImageStage.INITIAL)
    AttachmentRule.objects.create(template=template, image_type="panoramique", image_pick=ImagePick.LAST)

    assert [a.filename for a in attachments_for(template=template, patient=patient)] == ["en-cours-2.png"]


def test_subtype_narrows_the_choice(template, album):
    AttachmentRule.objects.create(template=template, image_type="extra_orale", image_subtype="face",
                                  image_pick=ImagePick.MOST_RECENT)
    assert [a.filename for a in attachments_for(template=template, patient=album)] == ["face.jpg"]


def test_external_file_as_is_and_warnings_for_what_is_missing(template, album):
    plan = ExternalFile(label="Plan d'accès")
    plan.file.save("plan.pdf", ContentFile(b"%PDF-1.4"), save=False)
    plan.save()
    AttachmentRule.objects.create(template=template, external_file=plan)
    AttachmentRule.objects.create(template=template, image_type="moulage", image_pick=ImagePick.FIRST)
    gone = ExternalFile(label="Notice", file="fichiers-externes/disparu.pdf")
    gone.save()
    AttachmentRule.objects.create(template=template, external_file=gone)

    found = attachments_for(template=template, patient=album)

    assert [(a.filename, a.mimetype, a.source) for a in found] == [("plan.pdf", "application/pdf", "external_file")]
    assert found.warnings == [
        "Aucune image « Moulage » pour ce patient : pièce jointe non ajoutée.",
        "Le fichier externe « Notice » est introuvable sur le serveur : il ne sera pas joint.",
    ]


MISSING = "Aucune image « Moulage » pour ce patient : pièce jointe non ajoutée."


@pytest.fixture
def moulage_template(template):
    """An email type whose only rule asks for a cast picture: patients seldom have one."""
    AttachmentRule.objects.create(template=template, image_type="moulage", image_pick=ImagePick.FIRST)
    return template


def test_send_window_preview_warns_of_a_rule_that_finds_nothing(assistant_client, moulage_template):
    from django.urls import reverse

    patient = PatientFactory()
    data = assistant_client.post(
        reverse("sending:preview", args=[patient.pk]), {"channel": "email", "template": moulage_template.pk}
    ).json()
    assert MISSING in data["warnings"]


def test_mass_preview_warns_and_the_sent_message_keeps_the_note(
    assistant_client, moulage_template, django_capture_on_commit_callbacks
):
    from django.core import mail
    from django.urls import reverse

    from messaging.dispatch import dispatch_pending
    from messaging.mass_mailing import (
        SEARCH_PATIENTS,
        draft_apply_template,
        draft_start,
        mailing_report,
        mass_mailing_send,
        mass_preview,
    )
    from messaging.models import Channel, MessageStatus

    patient = PatientFactory(email="sans-moulage@patients.test")
    draft = draft_start(search=SEARCH_PATIENTS, channel=Channel.EMAIL, ids=[patient.pk])
    draft_apply_template(draft, moulage_template)
    draft.account_id = moulage_template.account_id
    [line] = mass_preview(draft).lines
    assert MISSING in line.warnings

    mailing = mass_mailing_send(draft=draft, requested_by=None)
    dispatch_pending(mailing_id=mailing.pk)
    message = mailing.messages.get()
    assert (message.status, message.note) == (MessageStatus.SENT, MISSING)
    assert mail.outbox[0].attachments == []
    assert mailing_report(mailing=mailing).succeeded == [message]
    # Staff see it in the report and in the patient's Communication tab.
    report = assistant_client.get(reverse("mass:detail", args=[mailing.pk])).content.decode()
    assert "Remarque : Aucune image « Moulage » pour ce patient" in report
    history = assistant_client.get(reverse("sending:history", args=[patient.pk])).content.decode()
    assert "Remarque : Aucune image « Moulage » pour ce patient" in history
