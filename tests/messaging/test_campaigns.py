"""Campaigns: lists from every source, consents read at send time (news only to those who
accepted it), deferred campaigns sent by the django-q2 cluster at their time, quiet hours."""

from __future__ import annotations

import datetime as dt
import io
import time

import pytest
from django.utils import timezone

from messaging import campaigns as svc
from messaging.dispatch import dispatch_pending
from messaging.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Channel,
    MailingOrigin,
    Message,
    MessageStatus,
)
from tests.factories import GuardianFactory, MinorPatientFactory, PatientFactory, PractitionerFactory
from tests.messaging import sending_helpers
from tests.messaging.sending_helpers import NOON, make_account

# The shared fixtures of the sending tests, made available to this module.
no_quiet_hours = sending_helpers.no_quiet_hours
sms_outbox = sending_helpers.sms_outbox


def create(user, **kwargs):
    kwargs.setdefault("name", "Fermeture estivale")
    kwargs.setdefault("channel", Channel.SMS)
    kwargs.setdefault("kind", CampaignKind.CARE)
    # No recipient code: a bare number of the list has no name to merge (test_campaign_reach.py).
    kwargs.setdefault("body", "Bonjour, le cabinet sera fermé du 1er au 15 août.")
    return svc.campaign_create(created_by=user, **kwargs)


@pytest.mark.django_db
def test_list_from_all_sources_deduplicated_with_errors_reported(assistant):
    patient = PatientFactory(first_name="Alexis", mobile="+33684285560")
    child = MinorPatientFactory(civil_guardian=GuardianFactory(mobile="+33699887766"))
    dr = PractitionerFactory(mobile="+33611112222")
    csv_data = (
        "Nom;Prénom;Portable\nDUPONT;Jean;06 12 34 56 78\nBAD;Row;01 45 67 89 01\nDOUBLE;Alexis;0684285560\n"
    )
    campaign, report = create(
        assistant,
        pasted="06 84 28 55 60\n06.84.28.55.60; 12ab",
        csv_file=io.BytesIO(csv_data.encode("latin-1")),
        patient_ids=[patient.pk, child.pk],
        practitioner_ids=[dr.pk],
    )
    assert campaign.status == CampaignStatus.DRAFT
    addresses = set(campaign.recipients.values_list("address", flat=True))
    assert addresses == {"+33684285560", "+33612345678", "+33699887766", "+33611112222"}
    by_label = {s.label: s for s in report.sources}
    assert (by_label["Liste collée"].accepted, by_label["Liste collée"].duplicates) == (1, 1)
    assert by_label["Liste collée"].errors == [
        {"line": None, "value": "12ab", "reason": "Numéro de téléphone invalide."}
    ]
    assert by_label["Fichier CSV"].errors == [
        {"line": 3, "value": "01 45 67 89 01", "reason": "01.45.67.89.01 n'est pas un numéro de portable."}
    ]
    assert by_label["Fichier CSV"].duplicates == 1  # Alexis, already pasted
    assert (
        by_label["Patients sélectionnés"].duplicates == 1 and by_label["Patients sélectionnés"].accepted == 1
    )
    assert campaign.import_report["layout"]["delimiter"] == "point-virgule"


@pytest.mark.django_db
def test_unusable_csv_is_reported_and_other_sources_kept(assistant):
    campaign, report = create(assistant, pasted="0612345678", csv_file=io.BytesIO(b"Nom;Ville\nA;Paris\n"))
    assert "Aucune colonne « portable »" in report.file_error
    assert campaign.recipients.count() == 1


@pytest.mark.django_db
def test_news_goes_only_to_patients_who_accepted_it(assistant, sms_outbox, no_quiet_hours):
    yes = PatientFactory(mobile="+33611111111", news_consent=True)
    PatientFactory(mobile="+33622222222", news_consent=False)
    PatientFactory(mobile="+33633333333", news_consent=True)
    PatientFactory(mobile="+33633333333", news_consent=False)  # same family mobile, withdrawn
    PatientFactory(mobile="+33644444444", news_consent=True, sms_consent=False)
    campaign, _ = create(
        assistant,
        kind=CampaignKind.NEWS,
        pasted="0611111111, 0622222222, 0633333333, 0644444444, 0655555555",
        body="Bonjour @DPREN, le cabinet sera fermé du 1er au 15 août.",
    )
    campaign = svc.campaign_send(campaign=campaign, requested_by=assistant)
    dispatch_pending(mailing_id=campaign.mailing_id)
    assert [m.to for m in sms_outbox] == ["+33611111111"]
    reasons = dict(Message.objects.filter(mailing=campaign.mailing).values_list("to", "reason"))
    assert reasons["+33622222222"] == svc.NEWS_REFUSED
    assert reasons["+33633333333"] == svc.NEWS_REFUSED  # a withdrawal on one file wins
    assert reasons["+33644444444"] == "Ne souhaite pas recevoir de SMS."
    assert reasons["+33655555555"] == svc.NEWS_UNKNOWN
    sent = Message.objects.get(mailing=campaign.mailing, to="+33611111111")
    assert (
        sent.patient_id == yes.pk
        and sent.body == f"Bonjour {yes.first_name}, le cabinet sera fermé du 1er au 15 août."
    )


@pytest.mark.django_db
def test_all_patients_news_campaign_one_message_per_address(assistant, sms_outbox, no_quiet_hours):
    mother = GuardianFactory(mobile="+33699887766")
    MinorPatientFactory(civil_guardian=mother, news_consent=True)
    MinorPatientFactory(civil_guardian=mother, news_consent=True)
    PatientFactory(mobile="+33611111111", news_consent=True)
    PatientFactory(mobile="+33622222222", news_consent=False)
    campaign, _ = create(
        assistant, kind=CampaignKind.NEWS, all_patients=True, body="Nouveau : le cabinet ouvre le samedi."
    )
    campaign = svc.campaign_send(campaign=campaign, requested_by=assistant)
    dispatch_pending(mailing_id=campaign.mailing_id)
    assert sorted(m.to for m in sms_outbox) == ["+33611111111", "+33699887766"]
    assert campaign.mailing.origin == MailingOrigin.CAMPAIGN
    listed = {c.pk: c for c in svc.campaigns_with_figures()}[campaign.pk]
    assert (listed.n_messages, listed.n_succeeded, listed.n_skipped) == (3, 2, 1)


@pytest.mark.django_db
def test_send_is_once_only(assistant, sms_outbox, no_quiet_hours):
    campaign, _ = create(assistant, pasted="0612345678")
    svc.campaign_send(campaign=campaign)
    with pytest.raises(ValueError, match="déjà envoyée"):
        svc.campaign_send(campaign=campaign)
    assert Message.objects.filter(mailing__campaign=campaign).count() == 1


@pytest.mark.django_db
def test_email_campaign_to_staff(assistant, admin_user, mailoutbox):
    account = make_account()
    campaign, _ = create(
        assistant,
        channel=Channel.EMAIL,
        subject="Réunion d'équipe",
        body="<p>Réunion lundi 8h.</p>",
        account=account,
        staff_user_ids=[assistant.pk, admin_user.pk],
    )
    campaign = svc.campaign_send(campaign=campaign)
    dispatch_pending(mailing_id=campaign.mailing_id)
    assert sorted(m.to[0] for m in mailoutbox) == sorted([assistant.email, admin_user.email])


@pytest.mark.django_db
def test_sms_campaign_is_held_during_quiet_hours(assistant, sms_outbox):
    campaign, _ = create(assistant, pasted="0612345678")
    campaign = svc.campaign_send(campaign=campaign)
    night = dt.datetime(2026, 3, 10, 22, 30, tzinfo=NOON.tzinfo)
    dispatch_pending(mailing_id=campaign.mailing_id, now=night)
    message = Message.objects.get(mailing=campaign.mailing)
    assert sms_outbox == [] and message.status == MessageStatus.PENDING
    assert message.not_before == dt.datetime(2026, 3, 11, 8, 0, tzinfo=NOON.tzinfo)
    dispatch_pending(mailing_id=campaign.mailing_id, now=dt.datetime(2026, 3, 11, 8, 1, tzinfo=NOON.tzinfo))
    assert [m.to for m in sms_outbox] == ["+33612345678"]


@pytest.mark.django_db
def test_schedule_validation_and_cancel(assistant):
    campaign, _ = create(assistant, pasted="0612345678")
    with pytest.raises(ValueError, match="à venir"):
        svc.campaign_schedule(campaign=campaign, when=timezone.now() - dt.timedelta(minutes=1))
    svc.campaign_schedule(campaign=campaign, when=timezone.now() + dt.timedelta(days=1))
    from django_q.models import Schedule

    assert Schedule.objects.filter(name=svc.schedule_name(campaign)).exists()
    svc.campaign_cancel(campaign=campaign)
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.CANCELLED
    assert not Schedule.objects.filter(name=svc.schedule_name(campaign)).exists()
    assert svc.send_due_campaigns(now=timezone.now() + dt.timedelta(days=2)) == {"sent": [], "errors": {}}


@pytest.mark.django_db(transaction=True)
def test_deferred_campaign_is_sent_by_the_cluster_at_its_time(assistant, sms_outbox, no_quiet_hours):
    from django_q.brokers import get_broker
    from django_q.scheduler import scheduler

    campaign, _ = create(assistant, pasted="0612345678; 0687654321")
    when = timezone.now() + dt.timedelta(seconds=2)
    svc.campaign_schedule(campaign=campaign, when=when)
    scheduler(broker=get_broker())  # a tick before its time: nothing
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SCHEDULED and sms_outbox == []
    time.sleep(max(0.0, (when - timezone.now()).total_seconds()) + 0.2)
    scheduler(broker=get_broker())  # the tick after its time runs the task (sync in tests)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING and campaign.sent_at >= when
    # The mailing's dispatch was queued on commit and ran synchronously.
    assert sorted(m.to for m in sms_outbox) == ["+33612345678", "+33687654321"]
    scheduler(broker=get_broker())  # later ticks send nothing again
    assert len(sms_outbox) == 2


@pytest.mark.django_db
def test_saved_messages_are_reusable(assistant):
    svc.saved_message_save(name="Vacances", channel=Channel.SMS, body="Fermé en août.", created_by=assistant)
    svc.saved_message_save(
        name="Vacances", channel=Channel.SMS, body="Fermé du 1er au 15 août.", created_by=assistant
    )
    from messaging.models import SavedMessage

    assert list(SavedMessage.objects.values_list("name", "body")) == [
        ("Vacances", "Fermé du 1er au 15 août.")
    ]


@pytest.mark.django_db
def test_news_withdrawn_after_the_send_was_written_is_respected_when_it_leaves(assistant, sms_outbox,
                                                                               no_quiet_hours):
    # A news SMS written (held by quiet hours, the quota or a queue) and the patient says they
    # want no more news before it leaves: it must not leave. Their SMS consent for care
    # messages is unchanged, so only the news rule can stop it.
    emma = PatientFactory(mobile="+33611111111", news_consent=True)
    campaign, _ = create(assistant, kind=CampaignKind.NEWS, pasted="0611111111",
                         body="Nouveau : le cabinet ouvre le samedi.")
    campaign = svc.campaign_send(campaign=campaign, requested_by=assistant)
    message = Message.objects.get(mailing=campaign.mailing)
    assert message.status == MessageStatus.PENDING
    emma.news_consent = False
    emma.save()
    dispatch_pending(mailing_id=campaign.mailing_id, now=NOON)
    assert sms_outbox == []
    message.refresh_from_db()
    assert message.status == MessageStatus.CANCELLED
    assert message.reason == "N'a pas accepté les actualités du cabinet. Message non envoyé."


@pytest.mark.django_db
def test_care_campaign_ignores_the_news_consent_when_it_leaves(assistant, sms_outbox, no_quiet_hours):
    emma = PatientFactory(mobile="+33611111111", news_consent=True)
    campaign, _ = create(assistant, kind=CampaignKind.CARE, pasted="0611111111",
                         body="Le cabinet sera fermé du 1er au 15 août.")
    campaign = svc.campaign_send(campaign=campaign, requested_by=assistant)
    emma.news_consent = False
    emma.save()
    dispatch_pending(mailing_id=campaign.mailing_id, now=NOON)
    assert [m.to for m in sms_outbox] == ["+33611111111"]


@pytest.mark.django_db
def test_news_to_a_shared_number_stops_when_one_of_its_files_withdraws(assistant, sms_outbox, no_quiet_hours):
    # A family number held by two files: the message names no patient; a withdrawal on one of
    # them wins at the last moment too, as it did when the message was written.
    PatientFactory(mobile="+33633333333", news_consent=True)
    sister = PatientFactory(mobile="+33633333333", news_consent=True)
    campaign, _ = create(assistant, kind=CampaignKind.NEWS, pasted="0633333333",
                         body="Nouveau : le cabinet ouvre le samedi.")
    campaign = svc.campaign_send(campaign=campaign, requested_by=assistant)
    message = Message.objects.get(mailing=campaign.mailing)
    assert (message.status, message.patient_id) == (MessageStatus.PENDING, None)
    sister.news_consent = False
    sister.save()
    dispatch_pending(mailing_id=campaign.mailing_id, now=NOON)
    assert sms_outbox == []
    message.refresh_from_db()
    assert message.status == MessageStatus.CANCELLED


@pytest.mark.django_db
def test_a_shared_number_whose_file_withdraws_sms_consent_after_the_write_gets_nothing(assistant, sms_outbox,
                                                                                       no_quiet_hours):
    # Written to a family number two files hold (the message names no patient): the secretary
    # unticks "SMS" on one of them before it leaves (no STOP reply): it does not leave, as it
    # would not have been written.
    PatientFactory(mobile="+33633333333")
    sister = PatientFactory(mobile="+33633333333")
    campaign, _ = create(assistant, pasted="0633333333", body="Le cabinet sera fermé du 1er au 15 août.")
    campaign = svc.campaign_send(campaign=campaign, requested_by=assistant)
    message = Message.objects.get(mailing=campaign.mailing)
    assert (message.status, message.patient_id) == (MessageStatus.PENDING, None)
    sister.sms_consent = False
    sister.save()
    dispatch_pending(mailing_id=campaign.mailing_id, now=NOON)
    assert sms_outbox == []
    message.refresh_from_db()
    assert (message.status, message.reason) == (MessageStatus.CANCELLED,
                                                "Ne souhaite pas recevoir de SMS. Message non envoyé.")


@pytest.mark.django_db
def test_staff_get_an_internal_news_whatever_a_patient_file_holding_their_number_says(assistant, sms_outbox,
                                                                                        no_quiet_hours):
    from messaging.models import CampaignRecipient

    PatientFactory(mobile="+33644444444", news_consent=False, sms_consent=False)
    PatientFactory(mobile="+33644444444", news_consent=False)
    campaign, _ = create(assistant, kind=CampaignKind.NEWS, pasted="0644444444", body="Réunion d'équipe lundi.")
    CampaignRecipient.objects.filter(campaign=campaign).update(source=CampaignRecipient.Source.STAFF)
    campaign = svc.campaign_send(campaign=campaign, requested_by=assistant)
    dispatch_pending(mailing_id=campaign.mailing_id, now=NOON)
    assert [m.to for m in sms_outbox] == ["+33644444444"]


@pytest.mark.django_db
@pytest.mark.parametrize("refusing_first", [True, False])
@pytest.mark.parametrize("held_by", ["files", "guardian"])
def test_all_patients_news_to_a_shared_address_needs_every_file_whatever_the_order(
        assistant, sms_outbox, no_quiet_hours, refusing_first, held_by):
    # A mother's mobile on two children's files (on each file, or as their guardian's): one
    # child refused the news, the other accepted them. As for a pasted number, every file
    # holding the address must agree: nothing is sent, whichever file comes first, and the
    # check page counts it as the send does.
    from messaging.campaign_checks import check_stored

    mother = GuardianFactory(mobile="+33699887766")

    def child(news: bool):
        if held_by == "files":
            return PatientFactory(mobile="+33699887766", news_consent=news)
        return MinorPatientFactory(civil_guardian=mother, news_consent=news)

    for news in ([False, True] if refusing_first else [True, False]):
        child(news)
    campaign, _ = create(assistant, kind=CampaignKind.NEWS, all_patients=True,
                         body="Nouveau : le cabinet ouvre le samedi.")
    summary = check_stored(campaign).summary
    assert (summary.total, summary.reach, summary.reason_list) == (1, 0, [(svc.NEWS_REFUSED, 1)])
    campaign = svc.campaign_send(campaign=campaign, requested_by=assistant, require_reach=False)
    dispatch_pending(mailing_id=campaign.mailing_id, now=NOON)
    assert sms_outbox == []
    assert list(Message.objects.filter(mailing=campaign.mailing).values_list("to", "status", "reason")) == [
        ("+33699887766", MessageStatus.SKIPPED, svc.NEWS_REFUSED)]


@pytest.mark.django_db
def test_a_staff_number_held_by_one_patient_who_refuses_sms_still_gets_the_internal_message(
        assistant, sms_outbox, no_quiet_hours):
    # The practitioner's mobile is also on one patient file (their own file as a patient),
    # which refuses SMS: the internal message follows the staff rule when it is written AND
    # when it leaves, and is not the patient's (not in their history, not in their name).
    dr = PractitionerFactory(initials="DR", last_name="Molaire", first_name="Marc", mobile="+33677665544")
    patient = PatientFactory(mobile="+33677665544", sms_consent=False, last_name="Dupont", first_name="Léa")
    campaign, _ = create(assistant, practitioner_ids=[dr.pk], body="Réunion d'équipe lundi 8h.")
    campaign = svc.campaign_send(campaign=campaign, requested_by=assistant)
    message = Message.objects.get(mailing=campaign.mailing)
    assert (message.status, message.patient_id, message.recipient_role, message.recipient_name) == (
        MessageStatus.PENDING, None, "other", "MOLAIRE Marc")
    dispatch_pending(mailing_id=campaign.mailing_id, now=NOON)
    assert [m.to for m in sms_outbox] == ["+33677665544"]
    message.refresh_from_db()
    assert message.status in {MessageStatus.SENT, MessageStatus.DELIVERED}
    assert not Message.objects.filter(patient=patient).exists()


@pytest.mark.django_db
def test_a_staff_email_held_by_one_patient_who_refuses_email_still_gets_the_internal_message(
        assistant, mailoutbox):
    PatientFactory(email=assistant.email, email_consent=False)
    campaign, _ = create(assistant, channel=Channel.EMAIL, subject="Réunion d'équipe",
                         body="<p>Réunion lundi 8h.</p>", account=make_account(), staff_user_ids=[assistant.pk])
    campaign = svc.campaign_send(campaign=campaign)
    dispatch_pending(mailing_id=campaign.mailing_id)
    assert [m.to[0] for m in mailoutbox] == [assistant.email]
    assert Message.objects.get(mailing=campaign.mailing).patient_id is None


@pytest.mark.django_db
def test_all_patients_news_to_a_shared_number_stops_when_its_other_file_withdraws_before_it_leaves(
        assistant, sms_outbox, no_quiet_hours):
    # Written to the first of the two files holding the number; the second withdraws the news
    # before it leaves: the same rule as when it was written, at the last moment.
    first = PatientFactory(mobile="+33699887766", news_consent=True)
    second = PatientFactory(mobile="+33699887766", news_consent=True)
    campaign, _ = create(assistant, kind=CampaignKind.NEWS, all_patients=True,
                         body="Nouveau : le cabinet ouvre le samedi.")
    campaign = svc.campaign_send(campaign=campaign, requested_by=assistant)
    message = Message.objects.get(mailing=campaign.mailing)
    assert (message.status, message.patient_id) == (MessageStatus.PENDING, first.pk)
    second.news_consent = False
    second.save()
    dispatch_pending(mailing_id=campaign.mailing_id, now=NOON)
    assert sms_outbox == []
    message.refresh_from_db()
    assert (message.status, message.reason) == (MessageStatus.CANCELLED,
                                                "N'a pas accepté les actualités du cabinet. Message non envoyé.")
