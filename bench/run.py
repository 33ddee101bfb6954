#!/usr/bin/env python
"""`make bench`: searches, mailing creation and email delivery on PostgreSQL at the scale of
`seed_demo --patients 100000 --appointments 1000000` (BENCH_PATIENTS / BENCH_APPOINTMENTS to
change it). Prints tables; never asserts timings. Targets missed are printed plainly.

Needs DATABASE_URL (scripts/with_postgres.py) and /usr/sbin/smtp-sink (Debian package postfix).
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import io
import itertools
import logging
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, connections, models  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

PATIENTS = int(os.environ.get("BENCH_PATIENTS", "100000"))
APPOINTMENTS = int(os.environ.get("BENCH_APPOINTMENTS", "1000000"))
MAILING_SIZE = int(os.environ.get("BENCH_MAILING", "10000"))
EMAILS = int(os.environ.get("BENCH_EMAILS", "2000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", str(max(2, os.cpu_count() or 2))))
RUNS = 15
SMS_BODY = "Bonjour @PPREN @PNOM, rappel de votre RDV le @RDV1 avec @RDVPRAT au @CABNOM. Merci."
EMAIL_SUBJECT = "Rappel de votre rendez-vous du @RDVDATE"
EMAIL_BODY = "<p>Bonjour @PCIVIL @PNOM,</p><p>Nous vous rappelons votre rendez-vous du @RDV1 avec @RDVPRAT.</p>"

results: list[tuple[str, str, str]] = []  # (measure, value, target / remark)


def row(measure: str, value: str, note: str = "") -> None:
    results.append((measure, value, note))
    print(f"  {measure:<62} {value:>18}  {note}", flush=True)


def table() -> None:
    width = max(len(r[0]) for r in results)
    print("\n" + "=" * (width + 50))
    print(f"{'Mesure':<{width}}  {'Résultat':>18}  Objectif / remarque")
    print("-" * (width + 50))
    for measure, value, note in results:
        print(f"{measure:<{width}}  {value:>18}  {note}")
    print("=" * (width + 50))


def median_ms(fn, runs: int = RUNS) -> float:
    fn()  # warm-up: plans cached, pages in memory
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def seed() -> None:
    from patients.models import Patient

    call_command("migrate", verbosity=0)
    if Patient.objects.exists():
        # A base loaded by an earlier run (BENCH_KEEP_DB, a second `bench/run.py`): it may not have
        # been vacuumed yet (that run stopped early), and autovacuum would do it during a timing.
        settle()
        return
    print(f"seed_demo --patients {PATIENTS} --appointments {APPOINTMENTS} (quelques minutes)…", flush=True)
    start = time.perf_counter()
    # A throwaway database with DEBUG off: the demo accounts get random passwords, not shown.
    call_command(
        "seed_demo", patients=PATIENTS, appointments=APPOINTMENTS, allow_production=True, verbosity=0, stdout=io.StringIO()
    )
    row("Chargement seed_demo", f"{time.perf_counter() - start:.0f} s", f"{PATIENTS} patients, {APPOINTMENTS} RDV")
    settle()


def settle() -> None:
    """After a bulk load or delete, what autovacuum and the checkpointer would do in the
    background, done now: otherwise they take one of the two cores in the middle of a timing."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
            cursor.execute("CHECKPOINT")


def _autovacuums() -> tuple[dict[str, int], list[str]]:
    """How many times autovacuum has vacuumed or analyzed each table, and the tables its
    workers are on now."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, autovacuum_count + autoanalyze_count FROM pg_stat_all_tables")
        counts = dict(cursor.fetchall())
        cursor.execute("SELECT query FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")
        running = [query for (query,) in cursor.fetchall()]
    return counts, running


def quiet_database(*tables: str, wait: float = 300.0) -> dict[str, int] | None:
    """Before a window whose PostgreSQL CPU is measured: vacuum and analyze ``tables`` (what the
    steps before it wrote: the mailing just created), then wait until no autovacuum worker runs.
    An autovacuum of the freshly loaded base running inside the window counted as the dispatch's
    CPU (23 ms per email in one quiet run instead of 0.6). Returns what ``autovacuum_note``
    compares with after the window (None off PostgreSQL)."""
    if connection.vendor != "postgresql":
        return None
    if tables:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")
    started = time.monotonic()
    counts, running = _autovacuums()
    while running and time.monotonic() - started < wait:
        time.sleep(1)
        counts, running = _autovacuums()
    if time.monotonic() - started >= 1:
        print(f"  (attendu {time.monotonic() - started:.0f} s la fin de l'autovacuum avant la mesure"
              + (f" ; toujours en cours : {running}" if running else "") + ")", flush=True)
    return counts


def autovacuum_note(before: dict[str, int] | None) -> str:
    """The remark " ; AUTOVACUUM PENDANT LA MESURE (tables…)" when autovacuum ran during the window
    started after ``quiet_database``: the PostgreSQL share of that measure is then not the
    dispatch's alone."""
    if before is None:
        return ""
    counts, running = _autovacuums()
    tables = sorted(t for t, n in counts.items() if n != before.get(t, 0)) + (["en cours"] if running else [])
    return f" ; AUTOVACUUM PENDANT LA MESURE ({', '.join(tables)}) : part PostgreSQL faussée" if tables else ""


def plan_lines(qs) -> list[str]:
    plan = qs.explain()
    return [line.strip() for line in plan.splitlines() if "Index" in line or "Seq Scan" in line]


def bench_searches() -> None:
    from patients.criteria import AppointmentCriteria
    from patients.models import Appointment
    from patients.selectors import appointment_search

    print("\nRecherches", flush=True)
    busiest = (
        Appointment.objects.filter(start__gte=timezone.now())
        .order_by("start")
        .values_list("start", flat=True)
        .first()
    )
    day = timezone.localtime(busiest).date() if busiest else timezone.localdate()
    one_day = AppointmentCriteria(date_from=day, date_to=day, time_from=dt.time(7), time_to=dt.time(21))
    qs = appointment_search(criteria=one_day)
    n = len(list(qs))
    row(f"Recherche RDV d'un jour ({day:%d/%m/%Y}, {n} lignes), médiane", f"{median_ms(lambda: list(appointment_search(criteria=one_day))):.1f} ms")
    for line in plan_lines(qs):
        print(f"      plan : {line}")
    # The most recent day before today with missed appointments (yesterday may be a Sunday):
    # today's, in the morning, are a handful that the next appointments all exclude.
    from patients.selectors import local_day_bounds

    last_missed = (
        Appointment.objects.filter(state="manque", start__lt=local_day_bounds(timezone.localdate())[0])
        .order_by("-start")
        .values_list("start", flat=True)
        .first()
    )
    yesterday = timezone.localtime(last_missed).date() if last_missed else timezone.localdate() - dt.timedelta(days=1)
    missed = AppointmentCriteria(
        date_from=yesterday, date_to=yesterday, states=["manque"],
        exclude_with_next_appointment=True, exclude_came_since=True,
    )
    qs = appointment_search(criteria=missed)
    n = len(list(qs))
    row(f"RDV manqués du {yesterday:%d/%m/%Y} + exclusions ({n} lignes), médiane", f"{median_ms(lambda: list(appointment_search(criteria=missed))):.1f} ms")
    for line in plan_lines(qs):
        print(f"      plan : {line}")


def future_ids(limit: int) -> list[int]:
    """The search step: ``limit`` future appointments of patients with a mobile, as the search
    grid would tick them (ids, what the mass-mailing draft keeps)."""
    from patients.models import Appointment

    return list(
        Appointment.objects.filter(start__gte=timezone.now(), patient__isnull=False, state="futur")
        .exclude(patient__mobile="")
        .order_by("start")
        .values_list("pk", flat=True)[:limit]
    )


def mailing_rows(limit: int):
    """The rows of a mass mailing of ``limit`` future appointments, loaded as the wizard does."""
    from messaging.mass_mailing import SEARCH_APPOINTMENTS, MassDraft, draft_rows

    return draft_rows(MassDraft(search=SEARCH_APPOINTMENTS, channel="sms", appointment_ids=future_ids(limit)))


def _sms_draft(ids: list[int]):
    from messaging.mass_mailing import SEARCH_APPOINTMENTS, MassDraft

    return MassDraft(search=SEARCH_APPOINTMENTS, channel="sms", appointment_ids=ids, body=SMS_BODY)


@contextlib.contextmanager
def dispatch_queued_not_run():
    """As in production, the dispatch a mailing queues on commit goes to django-q2's queue (the
    ORM broker), where no cluster takes it here; the queued tasks are removed afterwards."""
    from django_q.conf import Conf
    from django_q.models import OrmQ

    sync, Conf.SYNC = Conf.SYNC, False
    last = OrmQ.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    try:
        yield
    finally:
        Conf.SYNC = sync
        OrmQ.objects.filter(pk__gt=last).delete()


def _forget(mailing) -> None:
    """Remove a benchmark mailing (outside the timings), so that each run writes as much, and
    vacuum its rows now rather than let autovacuum do it during the next run."""
    mailing.messages.all()._raw_delete(mailing._state.db)
    mailing.delete()
    _vacuum("messaging_message", "messaging_mailing")


def _vacuum(*tables: str) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM {', '.join(tables)}")


def bench_mailing_create() -> None:
    from messaging.mass_mailing import _plan, draft_rows_lazily, mass_mailing_send
    from messaging.merge import CustomFields, message_fields
    from messaging.models import Channel, MailingOrigin
    from messaging.outbox import mailing_create
    from messaging.policy import audience
    from practice.bulk import gc_paused
    from practice.models import Practice

    print(f"\nCréation d'un publipostage de {MAILING_SIZE} SMS", flush=True)
    # The staff's path: the search gives ids, "Envoyer" calls mass_mailing_send (rows loaded,
    # recipients chosen, messages merged and written to the outbox, committed). Median of
    # several runs, each mailing removed afterwards.
    totals, counts = [], []
    with dispatch_queued_not_run():
        _forget(mass_mailing_send(draft=_sms_draft(future_ids(MAILING_SIZE)), requested_by=None))  # warm-up
        for _ in range(5):
            start = time.perf_counter()
            with CaptureQueriesContext(connection) as ctx:
                ids = future_ids(MAILING_SIZE)
                mailing = mass_mailing_send(draft=_sms_draft(ids), requested_by=None)
            totals.append(time.perf_counter() - start)
            counts.append(len(ctx.captured_queries))
            n = mailing.messages.count()
            _forget(mailing)
    elapsed = statistics.median(totals)
    # The same steps one by one, as mass_mailing_send takes them, for where the time goes.
    phases: dict[str, list[float]] = {"search": [], "rows": [], "create": []}
    plan = _plan(_sms_draft([]), Practice.get())
    for _ in range(3):
        with gc_paused():
            t0 = time.perf_counter()
            ids = future_ids(MAILING_SIZE)
            t1 = time.perf_counter()
            custom = CustomFields.load()
            count, rows = draft_rows_lazily(_sms_draft(ids), fields=message_fields([SMS_BODY], custom))
            t2 = time.perf_counter()
            mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                                     recipients=(r for row_ in rows for r in audience(
                                         row_.patient, plan=plan, appointment=row_.appointment).sms),
                                     count=count, sms_body=SMS_BODY, schedule_dispatch=False,
                                     label="bench SMS", custom=custom)
            t3 = time.perf_counter()
        for name, took in zip(phases, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            phases[name].append(took)
        _forget(mailing)
    del rows
    # Peak memory under tracemalloc (it slows Python several times over: not timed).
    tracemalloc.start()
    try:
        with dispatch_queued_not_run():
            mailing = mass_mailing_send(draft=_sms_draft(future_ids(MAILING_SIZE)), requested_by=None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _forget(mailing)
    row(f"Publipostage de {n} SMS personnalisés (recherche, fusion, outbox), médiane", f"{elapsed:.2f} s",
        "objectif < 1 s" + ("" if elapsed < 1 else " : MANQUÉ") + f" (de {min(totals):.2f} à {max(totals):.2f} s)")
    labels = {"search": "recherche des rendez-vous (ids)", "rows": "requêtes des lignes (draft_rows_lazily)",
              "create": "mailing_create (lignes, destinataires, fusion, outbox)"}
    for name, label in labels.items():
        row(f"  dont {label}", f"{statistics.median(phases[name]):.2f} s")
    row("  débit", f"{n / elapsed:,.0f} msg/s".replace(",", " "))
    same = len(set(counts)) == 1
    row("  requêtes SQL", f"{counts[0]}", "constante (aussi vérifiée par un test)" if same else f"VARIABLES : {counts}")
    row("  pic mémoire (tracemalloc)", f"{peak / 1e6:.0f} Mo", "objectif < 200 Mo" + ("" if peak < 200e6 else " : MANQUÉ"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sink(port: int) -> subprocess.Popen:
    sink = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    cmd = [sink, "-u", "nobody", f"127.0.0.1:{port}", "1000"] if os.geteuid() == 0 else [sink, f"127.0.0.1:{port}", "1000"]
    proc = subprocess.Popen(cmd)
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("smtp-sink n'a pas démarré")


def _proc_cpu(pid: int, children: bool = False) -> float:
    """CPU seconds (user + system) of process ``pid`` from /proc, with those of its reaped
    children when ``children``; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds spent by this process, its reaped children (the dispatch workers), the
    PostgreSQL server (postmaster, its backends and their reaped predecessors) and smtp-sink:
    what a message costs whatever the load of the machine (wall-clock rates are not, on a
    machine shared with other work)."""

    def __init__(self, sink: subprocess.Popen):
        self.sink_pid = sink.pid
        self.postmaster = None
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        try:
            self.postmaster = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:  # a server on another machine: its share is not counted
            print("  (serveur PostgreSQL distant : son coût CPU n'est pas compté)")

    def _postgres(self) -> float:
        """The server's CPU seconds, read when none of its backends is a zombie: a backend that
        has exited (a connection just closed, such as the seed's, with tens of seconds of CPU)
        shows no CPU of its own until the postmaster reaps it and adds it to its children's
        total; sampled in between, its whole life was counted in the next window (one 6 December
        run read 21 ms of PostgreSQL per email). Waits at most two seconds."""
        if self.postmaster is None:
            return 0.0
        for _ in range(100):
            total, zombies = self._postgres_once()
            if not zombies:
                break
            time.sleep(0.02)
        return total

    def _postgres_once(self) -> tuple[float, int]:
        total, zombies = _proc_cpu(self.postmaster, children=True), 0
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
                    ppid = int(ppid)
                except (OSError, IndexError, ValueError):
                    continue
                if ppid == self.postmaster:
                    if state == "Z":
                        zombies += 1
                    total += _proc_cpu(int(entry.name))
        return total, zombies

    def sample(self) -> dict[str, float]:
        import resource

        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return {"python": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime, "postgres": self._postgres(),
                "smtp-sink": _proc_cpu(self.sink_pid, children=True)}

    @staticmethod
    def per_message(before: dict, after: dict, n: int) -> str:
        parts = {k: (after[k] - before[k]) * 1000 / max(n, 1) for k in before}
        total = sum(parts.values())
        return f"{total:.2f} ms CPU/msg (" + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()) + ")"


def _worker(mailing_id: int, counter) -> None:
    connections.close_all()  # each worker its own database connection (forked process)
    from messaging.dispatch import dispatch_pending

    result = dispatch_pending(mailing_id=mailing_id)
    with counter.get_lock():
        counter.value += result.sent


def email_recipients(limit: int):
    from messaging.mass_mailing import row_recipients
    from messaging.models import Channel

    rows = mailing_rows(limit * 2)
    out = []
    for row_ in rows:
        for r in row_recipients(row_, channel=Channel.EMAIL, roles=["patient"]):
            if r.sendable:
                out.append(r)
        if len(out) >= limit:
            break
    return out[:limit]


def bench_email_delivery() -> None:
    from django.core.mail import get_connection, send_mail

    from messaging.compose import compose_email
    from messaging.merge import CustomFields
    from messaging.models import Channel, EmailAccount, MailingOrigin, Message, MessageStatus, SmtpSecurity
    from messaging.outbox import mailing_create
    from practice.models import Practice

    print(f"\nEnvoi de {EMAILS} emails personnalisés à smtp-sink (boucle locale)", flush=True)
    port = free_port()
    sink = start_sink(port)
    try:
        account = EmailAccount.objects.create(
            name=f"bench-{port}", email="cabinet@bench.test", smtp_host="127.0.0.1", smtp_port=port,
            security=SmtpSecurity.NONE, timeout=30,
        )
        recipients = email_recipients(EMAILS)
        mailing = mailing_create(channel=Channel.EMAIL, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                                 recipients=recipients, email_subject=EMAIL_SUBJECT, email_body_html=EMAIL_BODY,
                                 account=account, signature=None, schedule_dispatch=False, label="bench email")
        pending = mailing.messages.filter(status=MessageStatus.PENDING).count()
        vacuums = quiet_database("messaging_message", "messaging_mailing")
        connections.close_all()
        ctx = multiprocessing.get_context("fork")
        counter = ctx.Value("i", 0)
        meter = CpuMeter(sink)
        connections.close_all()
        cpu = meter.sample()
        start = time.perf_counter()
        procs = [ctx.Process(target=_worker, args=(mailing.pk, counter)) for _ in range(WORKERS)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - start
        cpu_ours = CpuMeter.per_message(cpu, meter.sample(), counter.value)
        ours_note = autovacuum_note(vacuums)
        sent = Message.objects.filter(mailing=mailing, status=MessageStatus.SENT).count()
        rate = sent / elapsed
        row(f"Notre dispatch, {WORKERS} workers ({sent}/{pending} envoyés)", f"{rate:,.0f} msg/s".replace(",", " "),
            "chaque sort écrit avant le message suivant ; objectif ≥ 1 200 msg/s" + ("" if rate >= 1200 else " : MANQUÉ"))
        row("  coût CPU (workers + PostgreSQL + smtp-sink)", cpu_ours.split(" (")[0],
            cpu_ours.split(" (")[1][:-1] + ours_note)

        # The same personalised emails, rendered once, for the two other ways.
        custom, practice = CustomFields.load(), Practice.get()
        rendered = []
        for r in recipients:
            e = compose_email(subject=EMAIL_SUBJECT, body_html=EMAIL_BODY, patient=r.patient, appointment=r.appointment,
                              custom=custom, practice=practice)
            rendered.append((r.address, e))
        smtp = {"host": "127.0.0.1", "port": port, "use_tls": False, "fail_silently": False}
        vacuums = quiet_database()
        cpu = meter.sample()
        start = time.perf_counter()
        for address, e in rendered:
            send_mail(e.subject, e.text, "cabinet@bench.test", [address], html_message=e.html,
                      connection=get_connection("django.core.mail.backends.smtp.EmailBackend", **smtp))
        elapsed = time.perf_counter() - start
        cpu_mail = CpuMeter.per_message(cpu, meter.sample(), len(rendered))
        row("Django send_mail, une connexion par message", f"{len(rendered) / elapsed:,.0f} msg/s".replace(",", " "))
        row("  coût CPU (Python + PostgreSQL + smtp-sink)", cpu_mail.split(" (")[0],
            cpu_mail.split(" (")[1][:-1] + autovacuum_note(vacuums))

        from django.test import override_settings
        from post_office import mail as po_mail
        from post_office.models import Email as PoEmail

        logging.getLogger("post_office").setLevel(logging.WARNING)  # it sets itself to INFO on import

        # This run's rows only: a reused database (BENCH_KEEP_DB, a second `bench/run.py`) holds the
        # sent rows of earlier runs, which counted as sent in no time made the rate a fiction.
        last_po = PoEmail.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        ours_po = PoEmail.objects.filter(pk__gt=last_po)
        with override_settings(EMAIL_HOST="127.0.0.1", EMAIL_PORT=port, EMAIL_USE_TLS=False):
            po_mail.send_many([
                {"sender": "cabinet@bench.test", "recipients": [address], "subject": e.subject, "message": e.text,
                 "html_message": e.html}
                for address, e in rendered
            ])
            vacuums = quiet_database(PoEmail._meta.db_table)
            cpu = meter.sample()
            start = time.perf_counter()
            # send_queued sends one batch per call: call it until the queue is empty.
            while ours_po.filter(status=2).exists():
                po_mail.send_queued(processes=1)
            elapsed = time.perf_counter() - start
            after = meter.sample()
        po_sent = ours_po.filter(status=0).count()
        cpu_po = CpuMeter.per_message(cpu, after, po_sent)
        row(f"django-post-office send_queued ({po_sent}/{len(rendered)} envoyés)",
            f"{po_sent / elapsed:,.0f} msg/s".replace(",", " "))
        row("  coût CPU (Python + PostgreSQL + smtp-sink)", cpu_po.split(" (")[0],
            cpu_po.split(" (")[1][:-1] + autovacuum_note(vacuums))
        ours_po.delete()
    finally:
        sink.terminate()
        sink.wait()


def bench_crash() -> None:
    """The blast radius of a crash: WORKERS workers killed with SIGKILL in the middle of a
    mailing to smtp-sink; how many messages are left "incertain" (goal: at most one per worker),
    and whether the next run sends all the others, once."""
    import signal

    from messaging import lifecycle
    from messaging.dispatch import dispatch_pending
    from messaging.models import Channel, EmailAccount, MailingOrigin, Message, MessageStatus, SmtpSecurity
    from messaging.outbox import mailing_create

    print(f"\nRayon d'un arrêt brutal : {WORKERS} workers tués (SIGKILL) pendant un envoi de {EMAILS} emails", flush=True)
    port = free_port()
    sink = start_sink(port)
    try:
        account = EmailAccount.objects.create(
            name=f"bench-crash-{port}", email="cabinet@bench.test", smtp_host="127.0.0.1", smtp_port=port,
            security=SmtpSecurity.NONE, timeout=30,
        )
        mailing = mailing_create(channel=Channel.EMAIL, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                                 recipients=email_recipients(EMAILS), email_subject=EMAIL_SUBJECT,
                                 email_body_html=EMAIL_BODY, account=account, signature=None,
                                 schedule_dispatch=False, label="bench crash")
        total = mailing.messages.filter(status=MessageStatus.PENDING).count()
        connections.close_all()
        ctx = multiprocessing.get_context("fork")
        counter = ctx.Value("i", 0)
        procs = [ctx.Process(target=_worker, args=(mailing.pk, counter)) for _ in range(WORKERS)]
        for p in procs:
            p.start()
        sent = mailing.messages.filter(status=MessageStatus.SENT)
        while sent.count() < total // 4 and any(p.is_alive() for p in procs):
            time.sleep(0.01)
        for p in procs:
            if p.is_alive():
                os.kill(p.pid, signal.SIGKILL)
        for p in procs:
            p.join()
        in_flight = mailing.messages.filter(status=MessageStatus.SENDING, handed_at__isnull=False).count()
        claimed = mailing.messages.filter(status=MessageStatus.SENDING, handed_at__isnull=True).count()
        # The next run, once the dead workers' claims are old enough to be taken over.
        released, unknown = lifecycle.recover_interrupted(now=timezone.now() + lifecycle.stale_after()
                                                          + dt.timedelta(seconds=1))
        dispatch_pending(mailing_id=mailing.pk)
        final = dict(Message.objects.filter(mailing=mailing).values_list("status").annotate(n=models.Count("id")))
        row(f"Messages « incertains » après SIGKILL de {WORKERS} workers", f"{unknown}",
            f"objectif ≤ 1 par worker ({WORKERS})" + ("" if unknown <= WORKERS else " : MANQUÉ"))
        row("  réservés non transmis, repartis au passage suivant", f"{claimed} (rendus : {released})",
            f"envoyés au total : {final.get(MessageStatus.SENT, 0)}/{total}, en cours au moment du kill : {in_flight}")
    finally:
        sink.terminate()
        sink.wait()


def bench_queueing() -> None:
    from post_office import mail as po_mail
    from post_office.models import Email as PoEmail

    from messaging.compose import compose_email
    from messaging.merge import CustomFields
    from messaging.models import Channel, EmailAccount, MailingOrigin
    from messaging.outbox import mailing_create
    from practice.bulk import gc_paused
    from practice.models import Practice

    print(f"\nMise en file de {MAILING_SIZE} emails personnalisés", flush=True)
    account = EmailAccount.objects.filter(name__startswith="bench-").first()
    recipients = email_recipients(MAILING_SIZE)

    def ours():
        mailing = mailing_create(channel=Channel.EMAIL, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                                 recipients=recipients, email_subject=EMAIL_SUBJECT, email_body_html=EMAIL_BODY,
                                 account=account, signature=None, schedule_dispatch=False, label="bench file")
        return mailing

    def theirs() -> None:
        custom, practice = CustomFields.load(), Practice.get()
        batch = []
        for r in recipients:
            e = compose_email(subject=EMAIL_SUBJECT, body_html=EMAIL_BODY, patient=r.patient,
                              appointment=r.appointment, custom=custom, practice=practice)
            batch.append({"sender": "cabinet@bench.test", "recipients": [r.address], "subject": e.subject,
                          "message": e.text, "html_message": e.html})
        po_mail.send_many(batch)

    # Median of three runs each, in the same conditions (the collector paused, as
    # mass_mailing_send does); each run's rows are removed before the next.
    times: dict[str, list[float]] = {"ours": [], "theirs": []}
    for _ in range(3):
        last_po = PoEmail.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        with gc_paused():
            start = time.perf_counter()
            mailing = ours()
            times["ours"].append(time.perf_counter() - start)
            start = time.perf_counter()
            theirs()
            times["theirs"].append(time.perf_counter() - start)
        _forget(mailing)
        PoEmail.objects.filter(pk__gt=last_po).delete()
        _vacuum(PoEmail._meta.db_table)
    mine, po = statistics.median(times["ours"]), statistics.median(times["theirs"])
    ratio = po / mine
    row(f"mailing_create, {len(recipients)} emails (fusion comprise), médiane", f"{mine:.2f} s")
    row("django-post-office send_many, mêmes emails (fusion comprise), médiane", f"{po:.2f} s",
        f"rapport {ratio:.1f}×, objectif ≥ 2×" + ("" if ratio >= 2 else " : MANQUÉ"))


def bench_j_plus_1() -> None:
    """The J+1 SMS treatment for a day of 300 appointments, end to end to the sandbox gateway
    (bench/bench_treatment.py), beside the same treatment for 30: the queries must not grow."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_treatment import bench_treatment

    print("\nTraitement J+1 (SMS) de bout en bout", flush=True)
    small, large = bench_treatment(appointments=300)
    for r in (small, large):
        row(f"Traitement J+1, {r['appointments']} rendez-vous ({r['delivered_to_sandbox']} SMS remis)",
            f"{r['seconds']:.2f} s", f"recherche+fusion+outbox {r['run_seconds']:.2f} s, envoi {r['dispatch_seconds']:.2f} s")
    same = small["run_queries"] == large["run_queries"]
    row("  requêtes SQL de l'exécution (30 puis 300 rendez-vous)",
        f"{small['run_queries']} / {large['run_queries']}", "constantes" if same else "NE SONT PAS constantes")
    row("  requêtes SQL de l'envoi (30 puis 300 rendez-vous)",
        f"{small['dispatch_queries']} / {large['dispatch_queries']}", "par lot de messages")


def bench_planning_day() -> None:
    """The planning page of a day of 300 appointments (issue 14: under 150 ms at the bench's
    scale), rendered through Django's test client as a logged-in user, beside a day of 30 and an
    empty day: its queries must not grow, and the ratio to the empty day's page (the layout,
    the session, the menus) says what the rows cost whatever the machine's load. The
    appointments (with chair and nature, as a real day) are added on empty future days and
    removed after."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import override_settings

    from patients.models import Appointment, Chair, Nature, Patient, Practitioner

    print("\nPlanning du jour", flush=True)
    user, _ = get_user_model().objects.get_or_create(username="bench-planning", defaults={"is_superuser": True})
    client = Client()
    client.force_login(user)
    practitioners = list(Practitioner.objects.filter(active=True)[:4]) or [
        Practitioner.objects.create(last_name="Bench", first_name="Marc", initials="BCH")
    ]
    chairs = list(Chair.objects.all()[:3]) or [None]
    natures = list(Nature.objects.all()[:5]) or [None]
    patients = list(Patient.objects.order_by("pk")[:300])
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        client.get("/")  # the session's and the practice's first loads, not the planning's
        empty_ms = median_ms(lambda: client.get("/patients/rendez-vous/?jour=2099-05-31"))
    row("Planning d'un jour sans rendez-vous (mise en page seule), médiane", f"{empty_ms:.0f} ms")
    counts = []
    for n, day in ((30, dt.date(2099, 6, 1)), (300, dt.date(2099, 6, 2))):
        start = dt.datetime.combine(day, dt.time(7, 0), tzinfo=timezone.get_current_timezone())
        Appointment.objects.bulk_create(
            Appointment(patient=p, practitioner=practitioners[i % len(practitioners)], chair=chairs[i % len(chairs)],
                        nature=natures[i % len(natures)], start=start + dt.timedelta(minutes=2 * i), duration=20)
            for i, p in enumerate(patients[:n])
        )
        url = f"/patients/rendez-vous/?jour={day.isoformat()}"
        try:
            with override_settings(ALLOWED_HOSTS=["testserver"]), CaptureQueriesContext(connection) as queries:
                response = client.get(url)
            if response.status_code != 200 or f"{n} rendez-vous" not in response.content.decode():
                raise SystemExit(f"Le planning a répondu {response.status_code} : mesure impossible.")
            size = len(response.content)
            counts.append(len(queries.captured_queries))
            with override_settings(ALLOWED_HOSTS=["testserver"]):
                ms = median_ms(lambda url=url: client.get(url))
            shown = response.content.decode().count("data-appointment=")
            row(f"Planning d'un jour de {n} rendez-vous ({shown} affichés, page {size / 1024:.0f} ko), médiane",
                f"{ms:.0f} ms", f"{ms / empty_ms:.1f} × le jour vide ; objectif < 150 ms"
                + ("" if ms < 150 or n < 300 else " : MANQUÉ"))
        finally:
            Appointment.objects.filter(start__date=day).delete()
    row("  requêtes SQL du planning (30 puis 300 rendez-vous)", f"{counts[0]} / {counts[1]}",
        "constantes" if counts[0] == counts[1] else "NE SONT PAS constantes")
    user.delete()


def bench_preview() -> None:
    """The preview step of a mass mailing of MAILING_SIZE SMS (issue 14: it merged every message
    at each page view): the first view merges once and stores the lines, the next ones page
    through them. Through Django's test client as a logged-in user; queries counted."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import override_settings

    from messaging.mass_drafts import draft_create

    print(f"\nAperçu d'un publipostage de {MAILING_SIZE} SMS", flush=True)
    user, _ = get_user_model().objects.get_or_create(username="bench-apercu", defaults={"is_superuser": True})
    client = Client()
    client.force_login(user)
    try:
        with override_settings(ALLOWED_HOSTS=["testserver"]):
            client.get("/")  # the session's and the practice's first loads
            firsts, first_queries = [], 0
            for _ in range(3):  # each run a new draft: merged at its first view
                draft = draft_create(user=user, draft=_sms_draft(future_ids(MAILING_SIZE)))
                url = f"/publipostage/{draft.key}/destinataires/"
                start = time.perf_counter()
                with CaptureQueriesContext(connection) as queries:
                    response = client.get(url)
                firsts.append(time.perf_counter() - start)
                first_queries = len(queries.captured_queries)
                if response.status_code != 200:
                    raise SystemExit(f"L'aperçu a répondu {response.status_code} : mesure impossible.")
            with CaptureQueriesContext(connection) as queries:
                client.get(url + "?page=50")
            page_queries = len(queries.captured_queries)
            ms = median_ms(lambda: client.get(url + "?page=50"))
        first = statistics.median(firsts)
        row(f"Aperçu, première vue ({MAILING_SIZE} SMS fusionnés et gardés), médiane", f"{first:.2f} s",
            f"{first_queries} requêtes")
        row("Aperçu, vues suivantes (page 50, lignes gardées), médiane", f"{ms:.0f} ms",
            f"{page_queries} requêtes ; {first * 1000 / ms:.0f}× moins que la première")
    finally:
        user.delete()  # its drafts and their stored lines with it


REPLIES = int(os.environ.get("BENCH_REPLIES", "10000"))
# What patients answer, in these proportions: mostly confirmations, some cancellations, some
# questions for the inbox (each kind does a different amount of work).
REPLY_TEXTS = ["Oui merci", "Oui merci", "Oui merci", "Oui merci", "Oui merci", "OK", "ok c'est noté",
               "D'accord 👍", "Je ne pourrai pas venir", "Est-ce que je peux venir plus tôt ?"]


def bench_replies() -> None:
    """REPLIES answers to reminders that asked for one, each a signed POST to Twilio's inbound
    webhook through Django's test client (the whole view: signature, parsing, recording, the
    reading of the answer, the appointment changed). Time per reply, and the queries of each
    reply by kind: the same whatever its rank (never a scan of the outbox)."""
    from django.conf import settings
    from django.test import Client
    from django.test.utils import override_settings
    from twilio.request_validator import RequestValidator

    from messaging.mass_mailing import _plan, draft_rows_lazily
    from messaging.models import (
        Channel,
        InboundMessage,
        MailingOrigin,
        Message,
        MessageStatus,
        Purpose,
        SmsTemplate,
        TemplateCategory,
    )
    from messaging.outbox import mailing_create
    from messaging.policy import audience
    from messaging.replies import interpret
    from patients.models import Appointment, AppointmentEvent
    from practice.models import Practice

    print(f"\nRéponses des patients : {REPLIES} SMS signés sur le webhook Twilio", flush=True)
    category, _ = TemplateCategory.objects.get_or_create(name="Bench réponses", defaults={"purpose": Purpose.REMINDER})
    template, _ = SmsTemplate.objects.get_or_create(
        category=category, title="Bench rappel avec réponse",
        defaults={"body": "Rappel : RDV le @RDV1. Répondez OUI pour confirmer, NON pour annuler.", "asks_reply": True},
    )
    seen: set[str] = set()

    def recipients(rows):
        for row_ in rows:
            for r in audience(row_.patient, plan=plan, appointment=row_.appointment).sms:
                if r.sendable and r.address not in seen:  # one reminder per number: one answer each
                    seen.add(r.address)
                    yield r

    plan = _plan(_sms_draft([]), Practice.get())
    ids = future_ids(REPLIES * 3)
    count, rows = draft_rows_lazily(_sms_draft(ids))
    with dispatch_queued_not_run():
        mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                                 recipients=itertools.islice(recipients(rows), REPLIES), count=REPLIES,
                                 template=template, schedule_dispatch=False, label="bench réponses")
    # Sent (what the gateway would have reported): the answers follow these.
    Message.objects.filter(mailing=mailing, status=MessageStatus.PENDING).update(
        status=MessageStatus.SENT, sent_at=timezone.now())
    reminders = list(Message.objects.filter(mailing=mailing, status=MessageStatus.SENT).values_list("to", flat=True))
    settle()
    path = "/webhooks/twilio/inbound/"
    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    url = settings.PUBLIC_BASE_URL.rstrip("/") + path
    client = Client()
    per_kind: dict[str, list[int]] = {}
    statuses = set()
    executed = [0]
    took: list[float] = []

    def counted(execute, sql, params, many, context):
        # Counts every statement of the request (CaptureQueriesContext keeps only the last 9,000).
        executed[0] += 1
        return execute(sql, params, many, context)

    try:
        with override_settings(ALLOWED_HOSTS=["cabinet.example.fr"]), connection.execute_wrapper(counted):
            start = time.perf_counter()
            for i, number in enumerate(reminders):
                body = REPLY_TEXTS[i % len(REPLY_TEXTS)]
                params = {"MessageSid": f"SMbench{i:08d}", "From": number, "To": "+33757000000", "Body": body}
                before, began = executed[0], time.perf_counter()
                response = client.post(path, params, HTTP_X_TWILIO_SIGNATURE=validator.compute_signature(url, params),
                                       HTTP_HOST="cabinet.example.fr")
                took.append(time.perf_counter() - began)
                statuses.add(response.status_code)
                per_kind.setdefault(interpret(body), []).append(executed[0] - before)
            elapsed = time.perf_counter() - start
        n = len(reminders)
        confirmed = Appointment.objects.filter(messages__mailing=mailing, confirmed_at__isnull=False).count()
        row(f"{n} réponses signées par le webhook (Twilio), par réponse", f"{elapsed / n * 1000:.2f} ms",
            f"total {elapsed:.1f} s, {n / elapsed:.0f} réponses/s ; HTTP {sorted(statuses)} ; {confirmed} RDV confirmés")
        tenth = max(1, n // 10)
        first, last = statistics.median(took[:tenth]) * 1000, statistics.median(took[-tenth:]) * 1000
        row(f"  médiane des {tenth} premières / des {tenth} dernières", f"{first:.2f} / {last:.2f} ms",
            "le temps ne croît pas avec le nombre de réponses reçues")
        labels = {"confirm": "confirmation", "cancel": "annulation demandée", "other": "autre (boîte Réponses)"}
        # The practice row is cached 60 s (Practice.get, read by the language middleware): one
        # more query, once a minute, whatever the reply; anything else would be a real growth.
        minutes = elapsed / 60
        for kind, counts in per_kind.items():
            spread = collections.Counter(counts)
            usual = spread.most_common(1)[0][0]
            more = sum(n for c, n in spread.items() if c > usual)
            ok = set(spread) <= {usual, usual + 1} and more <= minutes + 1
            detail = ", ".join(f"{c} ×{n}" for c, n in sorted(spread.items()))
            row(f"  requêtes SQL par réponse : {labels.get(kind, kind)} ({len(counts)})", f"{usual}",
                (f"constantes ({detail} ; +1 au plus une fois par minute : cache de la ligne du cabinet)"
                 if ok else f"NE SONT PAS constantes ({detail})"))
    finally:
        AppointmentEvent.objects.filter(inbound__provider_id__startswith="SMbench").delete()
        Appointment.objects.filter(messages__mailing=mailing).update(confirmed_at=None, cancel_requested_at=None)
        InboundMessage.objects.filter(provider_id__startswith="SMbench").delete()
        _forget(mailing)


PARTS = {
    "searches": bench_searches,
    "mailing": bench_mailing_create,
    "email": bench_email_delivery,
    "crash": bench_crash,
    "queueing": bench_queueing,
    "j+1": bench_j_plus_1,
    "planning": bench_planning_day,
    "preview": bench_preview,
    "replies": bench_replies,
}


def main() -> None:
    """All parts, or those named on the command line (`bench/run.py email crash`)."""
    wanted = sys.argv[1:] or list(PARTS)
    unknown = [w for w in wanted if w not in PARTS]
    if unknown:
        raise SystemExit(f"Parties inconnues : {', '.join(unknown)} (au choix : {', '.join(PARTS)})")
    print(f"PostgreSQL : {connection.settings_dict['HOST']}:{connection.settings_dict['PORT']}")
    seed()
    for name in wanted:
        PARTS[name]()
    table()


if __name__ == "__main__":
    main()
