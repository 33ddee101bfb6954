"""The programmeur pages, through Django's test client."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from messaging.models import Message
from scheduler import services
from scheduler.models import EventMessageSetting, Heartbeat, Treatment, TreatmentRun
from tests.factories import AppointmentFactory, PatientFactory

pytestmark = pytest.mark.django_db


def test_pages_need_the_scheduler_permission(client, django_user_model):
    user = django_user_model.objects.create_user("nobody", password="x")
    client.force_login(user)
    assert client.get(reverse("scheduler:index")).status_code == 403
    client.logout()
    assert client.get(reverse("scheduler:index")).status_code == 302


def test_index_lists_treatments_and_warns_when_the_scheduler_is_down(assistant_client, reminder):
    page = assistant_client.get(reverse("scheduler:index")).content.decode()
    assert "Rappel RDV J+1 (SMS)" in page and "Programmeur" in page
    assert "Le programmeur ne fonctionne pas." in page
    Heartbeat.objects.create(pk=1, beat_at=timezone.now(), host="serveur", pid=1)
    page = assistant_client.get(reverse("scheduler:index")).content.decode()
    assert "Le programmeur fonctionne" in page and "serveur" in page


def test_create_the_j_plus_1_sms_treatment_from_the_form(admin_client, sms_template, practitioner):
    url = reverse("scheduler:create")
    assert "Recherche sur les rendez-vous" in admin_client.get(url).content.decode()
    form_page = admin_client.get(url, {"kind": "appointments"}).content.decode()
    # Only the settings of this kind: no birthday ages, no missed exclusions.
    assert "Âge minimum" not in form_page and "revenus après le rendez-vous manqué" not in form_page
    response = admin_client.post(url, {
        "kind": "appointments", "title": "Rappel RDV J+1 (SMS)", "hour": "01:00", "start_date": "2019-11-25",
        "periodicity": "daily", "date_mode": "relative", "offset_from": "1", "offset_to": "1",
        "send_sms": "on", "sms_template": sms_template.pk, "c_states": ["futur"], "c_include_urgent": "on",
        "active": "on",
    })
    treatment = Treatment.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("scheduler:test", args=[treatment.pk])
    assert treatment.criteria["states"] == ["futur"] and treatment.criteria["practitioner_ids"] == []
    assert Schedule.objects.get(pk=treatment.schedule_id).cron == "0 1 * * *"


def test_form_refuses_a_treatment_without_any_channel(admin_client):
    response = admin_client.post(reverse("scheduler:create"), {
        "kind": "appointments", "title": "Sans envoi", "hour": "07:00", "start_date": "2025-01-01",
        "periodicity": "daily", "date_mode": "relative", "offset_from": "1", "offset_to": "1",
    })
    assert response.status_code == 200
    assert "Cochez au moins un mode" in response.content.decode()
    assert not Treatment.objects.exists()


def test_form_refuses_a_window_that_ends_before_it_starts_with_the_reason(admin_client, sms_template):
    data = {
        "kind": "appointments", "title": "Rappel J+1 à J+3", "hour": "07:00", "start_date": "2025-01-01",
        "periodicity": "daily", "date_mode": "relative", "offset_from": "3", "offset_to": "1",
        "send_sms": "on", "sms_template": sms_template.pk, "c_states": ["futur"], "active": "on",
    }
    response = admin_client.post(reverse("scheduler:create"), data)
    assert response.status_code == 200
    assert "La période « de J+3 à J+1 » finit avant de commencer : indiquez de J+1 à J+3." in html.unescape(
        response.content.decode()
    )
    assert not Treatment.objects.exists()
    response = admin_client.post(reverse("scheduler:create"), {
        **data, "date_mode": "fixed", "offset_from": "1", "fixed_from": "2025-07-14", "fixed_to": "2025-07-01",
    })
    assert "La date de fin (01/07/2025) est avant la date de début (14/07/2025)" in html.unescape(
        response.content.decode()
    )
    assert not Treatment.objects.exists()
    response = admin_client.post(reverse("scheduler:create"), {**data, "offset_to": "3", "offset_from": "1"})
    assert response.status_code == 302 and Treatment.objects.get().period_label == "de J+1 à J+3"


def test_a_reversed_window_saved_before_the_rule_is_shown_in_the_tester_not_reversed(assistant_client, reminder):
    Treatment.objects.filter(pk=reminder.pk).update(offset_from=3, offset_to=1)
    page = html.unescape(
        assistant_client.get(reverse("scheduler:test", args=[reminder.pk]), {"date": "2025-11-21"}).content.decode()
    )
    assert "La période « de J+3 à J+1 » finit avant de commencer" in page and "Messages qui partiraient" not in page


def test_the_planning_dry_run_says_what_would_be_sent(assistant_client, admin_user, practitioner, capsys):
    from django.core.management import call_command

    from scheduler.models import TreatmentKind
    from tests.scheduler.conftest import make_treatment

    admin_user.email = "sophie@cabinet.test"
    admin_user.save()
    planning = make_treatment(kind=TreatmentKind.PLANNING, title="Planning du lendemain")
    planning.staff_recipients.set([admin_user])
    AppointmentFactory(patient=PatientFactory(), practitioner=practitioner,
                       start=timezone.make_aware(dt.datetime(2025, 11, 22, 10, 0)))
    page = html.unescape(
        assistant_client.get(reverse("scheduler:test", args=[planning.pk]), {"date": "2025-11-21"}).content.decode()
    )
    summary = page[page.index('id="test-summary"') : page.index("Messages qui partiraient")]
    assert "Le planning de 1 rendez-vous serait envoyé en PDF à : " in summary
    assert "patient" not in summary  # a planning concerns staff, not patients
    assert "rendez-vous envoyé" not in summary
    call_command("runjob", str(planning.pk), "--date", "2025-11-21", "--dry-run")
    out = capsys.readouterr().out
    assert "Le planning de 1 rendez-vous serait envoyé en PDF à : " in out and "sophie@cabinet.test" in out
    assert not TreatmentRun.objects.exists() and not Message.objects.exists()


def test_tester_shows_the_messages_and_writes_nothing(assistant_client, reminder, practitioner):
    AppointmentFactory(patient=PatientFactory(first_name="Emma", last_name="Ablirant"), practitioner=practitioner,
                       start=timezone.make_aware(dt.datetime(2025, 11, 22, 10, 0)))
    page = assistant_client.get(reverse("scheduler:test", args=[reminder.pk]), {"date": "2025-11-21"}).content.decode()
    assert "ABLIRANT Emma" in page and "votre RDV du 22/11/2025 à 10h00" in page and "06.84.28.55.60" in page
    assert "1 message serait envoyé" in " ".join(re.sub(r"<[^>]+>", "", page).split())
    assert not Message.objects.exists() and not TreatmentRun.objects.exists()


def test_run_now_runs_once_for_today_and_shows_the_trace(assistant_client, reminder, practitioner, no_quiet,
                                                         django_capture_on_commit_callbacks):
    services.treatment_set_active(treatment=reminder, active=True)  # an assistant runs active ones only
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    AppointmentFactory(patient=PatientFactory(first_name="Emma"), practitioner=practitioner,
                       start=timezone.make_aware(dt.datetime.combine(tomorrow, dt.time(10))))
    url = reverse("scheduler:run_now", args=[reminder.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assistant_client.post(url)
    first = assistant_client.get(reverse("scheduler:run", args=[TreatmentRun.objects.get().pk])).content.decode()
    assert "1 envoyé ·" in first and ">Envoyé<" in first
    second = assistant_client.post(url, follow=True).content.decode()
    assert "déjà été exécuté aujourd" in second
    assert TreatmentRun.objects.count() == 1 and Message.objects.count() == 1


def test_an_assistant_cannot_run_an_inactive_treatment_by_hand(assistant_client, reminder, practitioner, no_quiet,
                                                                django_capture_on_commit_callbacks):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    AppointmentFactory(patient=PatientFactory(first_name="Emma"), practitioner=practitioner,
                       start=timezone.make_aware(dt.datetime.combine(tomorrow, dt.time(10))))
    assert not reminder.active
    test_page = assistant_client.get(reverse("scheduler:test", args=[reminder.pk])).content.decode()
    assert "Exécuter maintenant" not in test_page
    assert "Ce traitement est inactif" in test_page

    with django_capture_on_commit_callbacks(execute=True):
        response = assistant_client.post(reverse("scheduler:run_now", args=[reminder.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("scheduler:test", args=[reminder.pk])
    assert "seul un utilisateur autorisé à modifier les traitements" in html.unescape(response.content.decode())
    assert not TreatmentRun.objects.exists() and not Message.objects.exists()

    # Once active, the same assistant may run it: it would have run anyway.
    services.treatment_set_active(treatment=reminder, active=True)
    assert "Exécuter maintenant" in assistant_client.get(reverse("scheduler:test", args=[reminder.pk])).content.decode()


def test_who_may_change_treatments_may_run_an_inactive_one(admin_client, reminder, practitioner, no_quiet,
                                                            django_capture_on_commit_callbacks):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    AppointmentFactory(patient=PatientFactory(first_name="Emma"), practitioner=practitioner,
                       start=timezone.make_aware(dt.datetime.combine(tomorrow, dt.time(10))))
    assert "Exécuter maintenant" in admin_client.get(reverse("scheduler:test", args=[reminder.pk])).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("scheduler:run_now", args=[reminder.pk]))
    assert TreatmentRun.objects.count() == 1 and Message.objects.count() == 1


def test_toggle_and_delete(admin_client, reminder):
    admin_client.post(reverse("scheduler:toggle", args=[reminder.pk]))
    reminder.refresh_from_db()
    assert reminder.active and Schedule.objects.filter(pk=reminder.schedule_id).exists()
    admin_client.post(reverse("scheduler:delete", args=[reminder.pk]))
    assert not Treatment.objects.exists() and not Schedule.objects.filter(func="scheduler.tasks.run_treatment").exists()


def test_event_settings_page_saves_a_confirmation(admin_client, sms_template):
    url = reverse("scheduler:events")
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {
        "form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "0", "form-MIN_NUM_FORMS": "0", "form-MAX_NUM_FORMS": "1000",
        "form-0-event": "booked", "form-0-nature": "", "form-0-channel": "sms", "form-0-sms_template": sms_template.pk,
        "form-0-email_template": "", "form-0-active": "on",
    })
    assert response.status_code == 302
    setting = EventMessageSetting.objects.get()
    assert (setting.event, setting.channel, setting.sms_template_id) == ("booked", "sms", sms_template.pk)


def test_a_test_date_that_does_not_exist_is_announced_not_silently_replaced(assistant_client, reminder):
    url = reverse("scheduler:test", args=[reminder.pk])
    page = html.unescape(assistant_client.get(url, {"date": "2026-02-31"}).content.decode())
    today = timezone.localdate().strftime("%d/%m/%Y")
    assert f"Date invalide : « 2026-02-31 ». Voici l'aperçu pour aujourd'hui ({today})." in page
    page = html.unescape(assistant_client.get(url, {"date": "2025-11-21"}).content.decode())
    assert "Date invalide" not in page


def test_the_trace_shows_french_phone_numbers_and_times(assistant_client, reminder, practitioner):
    from scheduler.runner import treatment_run

    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    AppointmentFactory(patient=PatientFactory(first_name="Emma", mobile="+33684285560"), practitioner=practitioner,
                       start=timezone.make_aware(dt.datetime.combine(tomorrow, dt.time(10))))
    run = treatment_run(treatment=reminder, run_date=timezone.localdate())
    TreatmentRun.objects.filter(pk=run.pk).update(
        started_at=timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time(3, 24)))
    )
    trace = assistant_client.get(reverse("scheduler:run", args=[run.pk])).content.decode()
    assert "06.84.28.55.60" in trace and "+33684285560" not in trace
    assert "à 03h24" in trace
    runs = assistant_client.get(reverse("scheduler:runs", args=[reminder.pk])).content.decode()
    assert f"{timezone.localdate():%d/%m/%Y} 03h24" in runs and "03:24" not in runs
