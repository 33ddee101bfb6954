import pytest

from scheduler.demo import ensure_demo_treatments
from scheduler.models import Treatment
from scheduler.runner import treatment_preview

pytestmark = pytest.mark.django_db


def test_demo_treatments_are_ready_inactive_and_created_once():
    first = ensure_demo_treatments()
    assert [t.title for t in first] == ["Rappel RDV J+1 (SMS)", "Relance RDV manqués J-1 (email)", "Anniversaires"]
    assert not any(t.active for t in first) and not any(t.schedule_id for t in first)
    ensure_demo_treatments()
    assert Treatment.objects.count() == 3
    missed = Treatment.objects.get(title="Relance RDV manqués J-1 (email)")
    assert missed.criteria["exclude_came_since"] and missed.criteria["states"] == ["manque"]
    for treatment in Treatment.objects.all():
        treatment_preview(treatment=treatment, run_date=treatment.start_date)
