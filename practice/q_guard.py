"""Only the project's own task functions ever run in the django-q2 cluster.

django-q2 stores a schedule's function as a dotted path and its worker imports and calls
whatever that path names: a schedule calling ``os.system`` is a way to run any command on the
server. Three locks, so that no path (the admin, a form, the ORM, a schedule stored before this
guard existed) can make the cluster run anything else:

- the admin's schedule form refuses another function with a French message
  (practice.admin.GuardedScheduleAdmin);
- ``Schedule`` rows are refused at save (``guard_schedule_save``, a pre_save receiver);
- every task is checked when it is queued (``guard_enqueue``, django-q2's ``pre_enqueue``
  signal, which the scheduler's tick and ``async_task`` both send): a foreign function is swapped
  for ``refused_task``, which fails with the reason, so the worker never imports the foreign
  function, the refusal is kept among the failed tasks, and one bad row cannot stop the
  scheduler's tick for the project's own schedules.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.utils.translation import gettext, gettext_lazy

logger = logging.getLogger(__name__)

# The functions the project itself schedules or queues (scheduler.services, scheduler.reports,
# messaging.tasks, messaging.campaigns, messaging.outbox, scheduler.runner). A new task function
# is added here in the same change that schedules it.
ALLOWED_TASKS = frozenset(
    {
        "scheduler.tasks.run_treatment",
        "scheduler.tasks.heartbeat",
        "scheduler.tasks.report_run",
        "messaging.tasks.dispatch_task",
        "messaging.tasks.reconcile_task",
        "messaging.campaigns.send_due_campaigns",
    }
)
REFUSED_TASK = "practice.q_guard.refused_task"


def func_path(func) -> str:
    """The dotted path django-q2 would import for ``func`` (a string or a callable)."""
    if callable(func):
        return f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', repr(func))}"
    return str(func or "").strip()


def is_allowed(func) -> bool:
    return func_path(func) in ALLOWED_TASKS


def refusal_message(func) -> str:
    """Why ``func`` cannot be scheduled (active language: the administrator's in the admin)."""
    return gettext(
        "« %(func)s » n'est pas une tâche du cabinet : seules ces fonctions peuvent être programmées : %(allowed)s."
    ) % {"func": func_path(func), "allowed": ", ".join(sorted(ALLOWED_TASKS))}


HOOK_MESSAGE = gettext_lazy("Aucune fonction de retour (hook) n'est permise : laissez ce champ vide.")


def validate_schedule(*, func, hook) -> None:
    """Raise ValidationError (active language, keyed by field) unless ``func`` is one of the project's
    task functions and ``hook`` is empty (the project uses no hook; a hook is another function
    the cluster would import and call)."""
    errors = {}
    if not is_allowed(func):
        errors["func"] = refusal_message(func)
    if hook:
        errors["hook"] = HOOK_MESSAGE
    if errors:
        raise ValidationError(errors)


def guard_schedule_save(sender, instance, **kwargs) -> None:
    """pre_save on django_q's Schedule: refuse to store another function."""
    validate_schedule(func=instance.func, hook=instance.hook)


def refused_task(func: str = "", **kwargs):
    """What the worker runs instead of a foreign function: fails, with the reason."""
    raise PermissionError(gettext("Tâche refusée : %(why)s") % {"why": refusal_message(func)})


def guard_enqueue(sender, task, **kwargs) -> None:
    """pre_enqueue: swap a foreign function (or hook) before the task is signed and queued."""
    if not is_allowed(task.get("func")):
        refused = func_path(task.get("func"))
        logger.error("Tâche refusée avant la file django-q2 : %s", refused)
        task["func"] = REFUSED_TASK
        task["args"] = ()
        task["kwargs"] = {"func": refused}
    if task.get("hook"):
        logger.error("Fonction de retour refusée pour la tâche %s : %s", task.get("name"), func_path(task["hook"]))
        task["hook"] = None
