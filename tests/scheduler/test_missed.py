"""A run that was due and did not happen is flagged on the programmeur and home pages, with a way
to run it; the scheduler being down shows on the home page and on a mailing still "en cours"."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.models import Channel, MailingOrigin, Message
from messaging.outbox import mailing_create
from messaging.recipients import recipients_for
from scheduler import selectors, services
from scheduler.models import Heartbeat, RunStatus, Treatment, TreatmentRun
from tests.factories import AppointmentFactory, PatientFactory
from tests.messaging.sending_helpers import make_account

from .conftest import make_treatment, paris

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def _active(treatment: Treatment, since: dt.datetime) -> Treatment:
    services.treatment_set_active(treatment=treatment, active=True)
    Treatment.objects.filter(pk=treatment.pk).update(active_since=since)
    treatment.refresh_from_db()
    return treatment


def test_missed_runs_keep_their_local_hour_across_the_autumn_change(sms_template):
    """Summer time ends on Sunday 25/10/2026 at 03h00: 18h00 is 16h00 UTC on the 24th and 17h00
    UTC on the 25th. Both missed runs read 18h00."""
    daily = _active(make_treatment(title="Rappel 18h", hour=dt.time(18, 0), send_sms=True, sms_template=sms_template),
                    since=paris(2026, 10, 20, 9, 0))
    now = dt.datetime(2026, 10, 26, 8, 0, tzinfo=UTC)
    TreatmentRun.objects.create(treatment=daily, run_date=dt.date(2026, 10, 23), status=RunStatus.DONE)
    missed = selectors.missed_runs(now=now)
    assert [m.label for m in missed] == [
        "exécution manquée le 20/10 à 18h00",
        "exécution manquée le 21/10 à 18h00",
        "exécution manquée le 22/10 à 18h00",
        "exécution manquée le 24/10 à 18h00",
        "exécution manquée le 25/10 à 18h00",
    ]
    assert missed[-2].due_at.astimezone(UTC) == dt.datetime(2026, 10, 24, 16, 0, tzinfo=UTC)
    assert missed[-1].due_at.astimezone(UTC) == dt.datetime(2026, 10, 25, 17, 0, tzinfo=UTC)

    # At 16h30 UTC on the 25th it is 17h30 in Paris: that day's 18h00 is not due yet (read with
    # the summer offset, it would be 16h00 UTC and wrongly flagged).
    before = selectors.missed_runs(now=dt.datetime(2026, 10, 25, 16, 30, tzinfo=UTC))
    assert before[-1].run_date == dt.date(2026, 10, 24)


def test_missed_runs_across_the_spring_change_and_only_on_the_days_it_runs(sms_template):
    """Summer time starts on Sunday 29/03/2026: 07h00 is 06h00 UTC on Friday and 05h00 UTC on
    Monday; a working-days treatment is not due on the weekend; the grace period, the time before
    activation and the run rows (any status but a stuck "en attente") are respected."""
    weekdays = _active(
        make_treatment(title="Jours ouvrés 7h", periodicity="working_days", hour=dt.time(7, 0), send_sms=True,
                       sms_template=sms_template),
        since=paris(2026, 3, 26, 12, 0),  # switched on after Thursday's 07h00
    )
    now = dt.datetime(2026, 3, 30, 5, 5, tzinfo=UTC)  # Monday 07h05: within the grace period
    missed = selectors.missed_runs(now=now)
    assert [(m.run_date, m.label) for m in missed] == [(dt.date(2026, 3, 27), "exécution manquée le 27/03 à 07h00")]
    assert missed[0].due_at.astimezone(UTC) == dt.datetime(2026, 3, 27, 6, 0, tzinfo=UTC)

    later = dt.datetime(2026, 3, 30, 5, 20, tzinfo=UTC)
    assert [m.label for m in selectors.missed_runs(now=later)][-1] == "exécution manquée le 30/03 à 07h00"
    # A run row started a moment ago (still "en attente") is not missed; a failed run happened.
    TreatmentRun.objects.create(treatment=weekdays, run_date=dt.date(2026, 3, 30), status=RunStatus.PENDING)
    TreatmentRun.objects.create(treatment=weekdays, run_date=dt.date(2026, 3, 27), status=RunStatus.FAILED)
    assert selectors.missed_runs(now=later) == []
    # Left "en attente" for hours, its worker died: it did not happen.
    assert [m.run_date for m in selectors.missed_runs(now=later + dt.timedelta(hours=2))] == [dt.date(2026, 3, 30)]
    # An inactive treatment misses nothing.
    services.treatment_set_active(treatment=weekdays, active=False)
    assert selectors.missed_runs(now=later + dt.timedelta(hours=2)) == []


def test_switching_a_treatment_on_again_does_not_flag_the_days_it_was_off(sms_template):
    treatment = make_treatment(title="Rappel", hour=dt.time(7, 0), send_sms=True, sms_template=sms_template,
                               active=True)
    assert treatment.active_since is not None
    services.treatment_set_active(treatment=treatment, active=False)
    services.treatment_set_active(treatment=treatment, active=True)
    treatment.refresh_from_db()
    assert timezone.now() - treatment.active_since < dt.timedelta(minutes=1)
    assert selectors.missed_runs() == []


def _yesterday_missed(sms_template) -> Treatment:
    treatment = make_treatment(title="Rappel RDV J+1 (SMS)", hour=dt.time(7, 0), send_sms=True,
                               sms_template=sms_template)
    return _active(treatment, since=timezone.now() - dt.timedelta(days=3))


def test_programmeur_and_home_flag_a_missed_run_and_running_it_clears_the_flag(
    assistant_client, sms_template, practitioner, no_quiet, django_capture_on_commit_callbacks,
):
    treatment = _yesterday_missed(sms_template)
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    AppointmentFactory(patient=PatientFactory(first_name="Emma"), practitioner=practitioner,
                       start=timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time(23, 0))))
    label = f"exécution manquée le {yesterday:%d/%m} à 07h00"
    for url in (reverse("scheduler:index"), reverse("home")):
        page = html.unescape(assistant_client.get(url).content.decode())
        assert "Rappel RDV J+1 (SMS)" in page and label in page and "Exécuter maintenant" in page

    # Running it from the home page runs that day's treatment (window J+1 = today), once.
    with django_capture_on_commit_callbacks(execute=True):
        response = assistant_client.post(
            reverse("scheduler:run_now", args=[treatment.pk]), {"date": yesterday.isoformat(), "next": "home"}
        )
    run = TreatmentRun.objects.get()
    assert response["Location"] == reverse("scheduler:run", args=[run.pk])
    assert run.run_date == yesterday and run.trigger == "manual" and run.status == RunStatus.DONE
    assert Message.objects.get().patient.first_name == "Emma"
    for url in (reverse("scheduler:index"), reverse("home")):
        assert label not in html.unescape(assistant_client.get(url).content.decode())


def test_a_date_that_was_not_missed_is_refused(assistant_client, sms_template):
    treatment = _yesterday_missed(sms_template)
    long_ago = timezone.localdate() - dt.timedelta(days=30)
    response = assistant_client.post(
        reverse("scheduler:run_now", args=[treatment.pk]), {"date": long_ago.isoformat(), "next": "home"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("home")
    assert "Aucune exécution manquée" in html.unescape(response.content.decode())
    assert not TreatmentRun.objects.exists()
    response = assistant_client.post(reverse("scheduler:run_now", args=[treatment.pk]), {"date": "n'importe quoi"},
                                     follow=True)
    assert response.status_code == 200 and not TreatmentRun.objects.exists()


def test_missed_runs_are_not_shown_on_home_to_who_cannot_open_the_programmeur(client, django_user_model,
                                                                               sms_template):
    _yesterday_missed(sms_template)
    client.force_login(django_user_model.objects.create_user("nobody", password="x"))
    page = html.unescape(client.get(reverse("home")).content.decode())
    assert "exécution manquée" not in page
    assert "Le programmeur ne fonctionne pas." in page  # but everyone learns it is down


def test_a_stale_heartbeat_shows_on_home_and_on_a_mailing_still_sending(assistant_client):
    stale = timezone.now() - selectors.HEARTBEAT_STALE - dt.timedelta(minutes=1)
    Heartbeat.objects.create(pk=1, beat_at=stale, host="serveur", pid=1)
    recipients = recipients_for(patient=PatientFactory(), channel=Channel.EMAIL)[:1]
    mailing = mailing_create(channel=Channel.EMAIL, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                             recipients=recipients, email_subject="Info", email_body_html="<p>Info</p>",
                             account=make_account(), schedule_dispatch=False)
    expected = f"Dernier signe de vie le {timezone.localtime(stale):%d/%m/%Y à %Hh%M}."
    for url in (reverse("home"), reverse("mass:detail", args=[mailing.pk])):
        page = html.unescape(assistant_client.get(url).content.decode())
        assert "Le programmeur ne fonctionne pas." in page and expected in page, url

    # Alive again: the home page and the mailing page say nothing.
    Heartbeat.objects.filter(pk=1).update(beat_at=timezone.now())
    for url in (reverse("home"), reverse("mass:detail", args=[mailing.pk])):
        page = html.unescape(assistant_client.get(url).content.decode())
        assert "Le programmeur" not in page, url
