"""The benchmark's function works on a small database, and its queries do not grow with the
number of appointments (the same property the benchmark reports at the million scale)."""

import pytest

from bench.bench_treatment import bench_treatment
from practice.bulk import fast_path
from tests.factories import PatientFactory, PractitionerFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_bench_treatment_delivers_everything_with_constant_queries():
    PractitionerFactory()
    for i in range(60):
        PatientFactory(mobile=f"+336000000{i:02d}")
    small, large = bench_treatment(appointments=60)
    assert (small["appointments"], large["appointments"]) == (30, 60)
    assert small["delivered_to_sandbox"] == 30 and large["delivered_to_sandbox"] == 60
    assert small["run_queries"] == large["run_queries"]
    per_message = (large["dispatch_queries"] - small["dispatch_queries"]) / 30
    # Per SMS: the previous SMS's SENT, this one's hand-over and its last-moment read (one
    # statement on PostgreSQL; BEGIN and three statements on the plain path), and the look for
    # delivery reports that came before its SENT.
    assert per_message == int(per_message) and per_message <= (2 if fast_path() else 5)
    assert small["dispatch_queries"] - 30 * per_message == large["dispatch_queries"] - 60 * per_message
