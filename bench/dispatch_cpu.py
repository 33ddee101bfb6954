#!/usr/bin/env python
"""The CPU cost of one email through the dispatch, whatever the load of the machine: one worker
(this process) sends N personalised emails to smtp-sink, ROUNDS times (the first one warms up);
for each round, msg/s and the CPU milliseconds per email of this process, the PostgreSQL server
and smtp-sink (bench/run.py's CpuMeter). To compare two versions of the code, run it from each
tree in turn on the same database (docs/performance.md, "Dispatch des emails").

    BENCH_PATIENTS=12000 BENCH_APPOINTMENTS=60000 N=600 ROUNDS=2 \\
      python scripts/with_postgres.py -- python bench/dispatch_cpu.py

QUERIES=1 also counts the queries (Django's query log slows the worker: not with the CPU).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("BENCH_PATIENTS", "12000")
os.environ.setdefault("BENCH_APPOINTMENTS", "60000")

import run as bench  # noqa: E402  (bench/run.py: Django set up, seed, smtp-sink, CpuMeter)
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402


def main() -> None:
    from messaging.dispatch import dispatch_pending
    from messaging.models import Channel, EmailAccount, MailingOrigin, SmtpSecurity
    from messaging.outbox import mailing_create

    bench.seed()
    n, rounds = int(os.environ.get("N", "600")), int(os.environ.get("ROUNDS", "2"))
    port = bench.free_port()
    sink = bench.start_sink(port)
    try:
        account = EmailAccount.objects.create(
            name=f"bench-cpu-{port}", email="cabinet@bench.test", smtp_host="127.0.0.1", smtp_port=port,
            security=SmtpSecurity.NONE, timeout=30,
        )
        recipients = bench.email_recipients(n)
        meter = bench.CpuMeter(sink)
        for i in range(rounds):
            mailing = mailing_create(channel=Channel.EMAIL, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                                     recipients=recipients, email_subject=bench.EMAIL_SUBJECT,
                                     email_body_html=bench.EMAIL_BODY, account=account, signature=None,
                                     schedule_dispatch=False, label="bench cpu")
            counting = CaptureQueriesContext(connection) if os.environ.get("QUERIES") else contextlib.nullcontext()
            vacuums = bench.quiet_database("messaging_message", "messaging_mailing")
            before, start = meter.sample(), time.perf_counter()
            with counting as queries:
                result = dispatch_pending(mailing_id=mailing.pk)
            elapsed = time.perf_counter() - start
            cost = bench.CpuMeter.per_message(before, meter.sample(), result.sent)
            counted = f", {len(queries.captured_queries) / result.sent:.2f} requêtes/email" if queries else ""
            print(f"passage {i + 1} : {result.sent} emails, {result.sent / elapsed:.0f} msg/s, {cost}{counted}"
                  f"{bench.autovacuum_note(vacuums)}", flush=True)
    finally:
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    main()
