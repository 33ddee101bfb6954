#!/usr/bin/env python
"""A/B of the bench's mailing line (mass_mailing_send of BENCH_MAILING SMS, as bench/run.py
measures it) on the benchmark volume (seeded if the database is empty): with the Message
foreign-key constraints to patient and appointment (as migrated), without them (dropped by SQL,
re-created at the end), and on the plain Django path (BULK_FAST_PATH off). The variants are
interleaved, their order alternated each round; prints the medians and the round-by-round
ratios (docs/performance.md). Never asserts.

    python scripts/with_postgres.py -- python bench/ab_links.py     # AB_ROUNDS=8 for more
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
from bench.run import MAILING_SIZE, _forget, _sms_draft, dispatch_queued_not_run, future_ids, seed  # noqa
from django.conf import settings  # noqa
from django.db import connection  # noqa

from messaging.mass_mailing import mass_mailing_send  # noqa

ROUNDS = int(os.environ.get("AB_ROUNDS", "5"))
seed()
with connection.cursor() as c:
    c.execute("""SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
                 WHERE conrelid = 'messaging_message'::regclass AND contype = 'f'
                 AND confrelid IN ('patients_patient'::regclass, 'patients_appointment'::regclass)""")
    links = c.fetchall()
print("constraints:", links, flush=True)
assert len(links) == 2, links


def set_links(on: bool) -> None:
    with connection.cursor() as c:
        for name, definition in links:
            c.execute(f'ALTER TABLE messaging_message DROP CONSTRAINT IF EXISTS "{name}"')
            if on:
                c.execute(f'ALTER TABLE messaging_message ADD CONSTRAINT "{name}" {definition}')
        c.execute("VACUUM ANALYZE messaging_message")


def one() -> tuple[float, int]:
    start = time.perf_counter()
    ids = future_ids(MAILING_SIZE)
    mailing = mass_mailing_send(draft=_sms_draft(ids), requested_by=None)
    took = time.perf_counter() - start
    n = mailing.messages.count()
    _forget(mailing)
    return took, n



times = {"avec contraintes": [], "sans contraintes": [], "chemin Django ordinaire (avec contraintes)": []}
with dispatch_queued_not_run():
    one()  # warm-up
    for r in range(ROUNDS):
        order = list(times) if r % 2 == 0 else list(reversed(times))
        for variant in order:
            set_links(variant != "sans contraintes")
            settings.BULK_FAST_PATH = not variant.startswith("chemin")
            took, n = one()
            times[variant].append(took)
            print(f"round {r} {variant}: {took:.3f} s ({n} messages)", flush=True)
set_links(True)
settings.BULK_FAST_PATH = True
for variant, xs in times.items():
    print(f"{variant}: médiane {statistics.median(xs):.3f} s, de {min(xs):.3f} à {max(xs):.3f} s ({len(xs)} essais)")
on, off = statistics.median(times["avec contraintes"]), statistics.median(times["sans contraintes"])
print(f"coût des contraintes : {100 * (on - off) / off:+.1f} % de la ligne du publipostage")
ratios = [a / b for a, b in zip(times["avec contraintes"], times["sans contraintes"], strict=True)]
print(f"rapports par tour (avec / sans) : {[round(r, 2) for r in ratios]}, médiane {statistics.median(ratios):.3f}")
plain = statistics.median(times["chemin Django ordinaire (avec contraintes)"])
print(f"chemin Django ordinaire : {plain / on:.2f} fois le temps du chemin rapide")
