"""No one runs a command on the server through django-q2: only the project's task functions."""

import html
import importlib

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_q.models import Failure, Schedule
from django_q.tasks import async_task

from practice import q_guard
from tests.factories import UserFactory

SCHEDULE_POST = {
    "name": "pirate",
    "func": "os.system",
    "hook": "",
    "args": "'touch /tmp/pwned'",
    "kwargs": "",
    "schedule_type": "O",
    "minutes": "",
    "repeats": "-1",
    "next_run_0": "01/01/2030",
    "next_run_1": "10:00:00",
    "cron": "",
    "cluster": "",
    "intended_date_kwarg": "",
}


@pytest.mark.django_db
def test_no_role_may_add_change_or_delete_django_q_rows():
    for group in Group.objects.all():
        codes = set(group.permissions.filter(content_type__app_label="django_q").values_list("codename", flat=True))
        assert not {c for c in codes if not c.startswith("view_")}, group.name
    assert "view_schedule" in set(Group.objects.get(name="Administrateur").permissions.values_list("codename", flat=True))


@pytest.mark.django_db
def test_the_data_migration_removes_permissions_an_existing_database_gave():
    admin = Group.objects.get(name="Administrateur")
    writes = Permission.objects.filter(content_type__app_label="django_q").exclude(codename__startswith="view_")
    admin.permissions.add(*writes)  # what the roles gave before this fix
    migration = importlib.import_module("practice.migrations.0005_no_django_q_write_permissions")
    migration.drop_django_q_write_permissions(django_apps, None)
    assert not admin.permissions.filter(pk__in=writes).exists()
    assert admin.permissions.filter(content_type__app_label="django_q", codename="view_schedule").exists()


@pytest.mark.django_db
def test_a_non_superuser_administrator_cannot_add_or_change_a_schedule(admin_client):
    schedule = Schedule.objects.create(name="J+1", func="scheduler.tasks.heartbeat", schedule_type="I", minutes=1)
    listing = admin_client.get("/admin/django_q/schedule/")
    assert listing.status_code == 200
    assert "/admin/django_q/schedule/add/" not in listing.content.decode()
    assert admin_client.get("/admin/django_q/schedule/add/").status_code == 403
    assert admin_client.post("/admin/django_q/schedule/add/", SCHEDULE_POST).status_code == 403
    response = admin_client.post(f"/admin/django_q/schedule/{schedule.pk}/change/", SCHEDULE_POST)
    assert response.status_code == 403
    schedule.refresh_from_db()
    assert schedule.func == "scheduler.tasks.heartbeat"
    assert not Schedule.objects.filter(func="os.system").exists()


@pytest.mark.django_db
def test_a_superuser_posting_os_system_gets_a_french_error_and_nothing_is_stored(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    response = client.post("/admin/django_q/schedule/add/", SCHEDULE_POST)
    assert response.status_code == 200
    page = response.content.decode()
    assert "n&#x27;est pas une tâche du cabinet" in page or "n'est pas une tâche du cabinet" in page
    assert not Schedule.objects.filter(name="pirate").exists()

    hooked = dict(SCHEDULE_POST, func="scheduler.tasks.heartbeat", hook="os.system")
    response = client.post("/admin/django_q/schedule/add/", hooked)
    assert response.status_code == 200
    assert "Aucune fonction de retour" in response.content.decode()
    assert not Schedule.objects.filter(name="pirate").exists()

    allowed = dict(SCHEDULE_POST, func="scheduler.tasks.heartbeat", args="")
    response = client.post("/admin/django_q/schedule/add/", allowed)
    assert response.status_code == 302
    assert Schedule.objects.filter(name="pirate", func="scheduler.tasks.heartbeat").exists()


@pytest.mark.django_db
def test_the_model_refuses_a_foreign_function_whatever_the_path():
    with pytest.raises(ValidationError):
        Schedule.objects.create(name="pirate", func="os.system", args="'id'")
    with pytest.raises(ValidationError):
        Schedule.objects.create(name="pirate", func="scheduler.tasks.heartbeat", hook="os.system")
    schedule = Schedule.objects.create(name="ok", func="messaging.tasks.dispatch_task")
    schedule.func = "subprocess.call"
    with pytest.raises(ValidationError):
        schedule.save()
    assert Schedule.objects.get(pk=schedule.pk).func == "messaging.tasks.dispatch_task"


@pytest.mark.django_db(transaction=True)
def test_a_foreign_schedule_stored_before_the_guard_never_runs(monkeypatch, tmp_path):
    """A row written before this fix (bulk_create skips pre_save, as old data did) is queued as a
    refusal: the real worker records a failure and never imports the function, and the same tick
    still queues the project's own schedule."""
    from multiprocessing import Event, Value

    from django_q.brokers import get_broker
    from django_q.conf import Conf
    from django_q.monitor import monitor
    from django_q.pusher import pusher
    from django_q.queues import Queue
    from django_q.scheduler import scheduler
    from django_q.worker import worker

    from scheduler.models import Heartbeat

    monkeypatch.setattr(Conf, "SYNC", False)  # queue through the ORM broker, as in production
    marker = tmp_path / "pwned"
    past = timezone.now() - timezone.timedelta(minutes=1)
    Schedule.objects.bulk_create(
        [
            Schedule(name="pirate", func="os.system", args=repr(f"touch {marker}"), schedule_type="O", next_run=past),
            Schedule(name="pouls", func="scheduler.tasks.heartbeat", schedule_type="O", next_run=past),
        ]
    )
    broker = get_broker()
    scheduler(broker=broker)
    async_task("os.system", f"touch {marker}", broker=broker)
    assert broker.queue_size() >= 3

    tasks, results, stop = Queue(), Queue(), Event()
    stop.set()
    for _ in range(20):  # the pusher hands out one task per call
        if not broker.queue_size():
            break
        pusher(tasks, stop, broker=broker)
    tasks.put("STOP")
    worker(tasks, results, Value("f", -1))
    results.put("STOP")
    monitor(results, broker=broker)

    assert not marker.exists()
    failures = Failure.objects.filter(func=q_guard.REFUSED_TASK)
    assert failures.count() == 2
    assert all("os.system" in f.result and "Tâche refusée" in f.result for f in failures)
    assert Heartbeat.objects.exists(), "the project's own schedule still ran in the same tick"


def test_the_allow_list_names_importable_project_functions():
    import pydoc

    for path in q_guard.ALLOWED_TASKS:
        assert callable(pydoc.locate(path)), path


@pytest.mark.django_db
def test_the_refusal_is_in_english_for_an_english_superuser(client):
    from practice.models import StaffPreference

    root = UserFactory(username="root-en", is_staff=True, is_superuser=True)
    StaffPreference.objects.create(user=root, language="en")
    client.force_login(root)
    page = html.unescape(client.post("/admin/django_q/schedule/add/", SCHEDULE_POST).content.decode())
    assert "“os.system” is not one of the practice's tasks: only these functions can be scheduled:" in page
    hooked = dict(SCHEDULE_POST, func="scheduler.tasks.heartbeat", hook="os.system")
    page = html.unescape(client.post("/admin/django_q/schedule/add/", hooked).content.decode())
    assert "No hook function is allowed: leave this field empty." in page
    assert not Schedule.objects.filter(name="pirate").exists()
