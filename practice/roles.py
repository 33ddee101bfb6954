"""The three roles of the practice, as Django groups.

The groups are created by a migration; their permissions are (re)synchronised after every
``migrate`` (permissions themselves only exist once all apps have migrated), so a new model's
permissions reach the right roles without a hand-written migration each time.
"""

from __future__ import annotations

from django.utils.translation import gettext, gettext_noop

# The groups' names are data (created by a migration, looked up by name): the same in every
# language; ``role_label`` shows them in the active one.
ADMINISTRATEUR = gettext_noop("Administrateur")
PRATICIEN = gettext_noop("Praticien")
ASSISTANT = gettext_noop("Assistant(e)")
ROLE_NAMES = [ADMINISTRATEUR, PRATICIEN, ASSISTANT]


def role_label(name: str) -> str:
    """A role's (group's) name in the active language; another group's name as it is."""
    return gettext(name) if name in ROLE_NAMES else name

# Apps whose data staff manage every day (patients, appointments, sending) versus configuration.
DAILY_APPS = {"patients"}
DAILY_CODENAMES = {"send_messages", "use_scheduler"}
# Messaging models staff use without configuring them (history of what was sent).
DAILY_MESSAGING_MODELS = {"mailing", "message", "inboundmessage", "patientimage"}
# What practitioners may configure beyond the assistants: message templates and their fields.
PRACTITIONER_MESSAGING_MODELS = {
    "templatecategory",
    "smstemplate",
    "emailtemplate",
    "lettertemplate",
    "signature",
    "particularfield",
    "freefield",
    "externalfile",
    "attachmentrule",
}


def role_permissions(role: str, permissions):
    """Filter ``permissions`` (Permission rows with content_type loaded) down to ``role``'s."""
    chosen = []
    for perm in permissions:
        app = perm.content_type.app_label
        model = perm.content_type.model
        action = perm.codename.split("_", 1)[0]
        if app == "django_q" and action != "view":
            # Adding or changing a django-q2 schedule or task chooses a function for the cluster
            # to run: no role may (treatments manage their own schedules). See practice.q_guard.
            continue
        if role == ADMINISTRATEUR:
            if app in {"patients", "messaging", "scheduler", "practice", "auth", "django_q", "axes"}:
                chosen.append(perm)
            continue
        daily = app in DAILY_APPS or perm.codename in DAILY_CODENAMES
        daily = daily or (app == "messaging" and model in DAILY_MESSAGING_MODELS)
        reading = action == "view" and app in {"messaging", "scheduler"}
        if role == PRATICIEN:
            configure = app == "messaging" and model in PRACTITIONER_MESSAGING_MODELS
            if daily or reading or configure:
                chosen.append(perm)
        elif role == ASSISTANT:
            if daily or reading:
                chosen.append(perm)
    return chosen


def sync_roles(**kwargs) -> None:
    """Create the groups if needed and give each exactly its role's permissions."""
    from django.contrib.auth.models import Group, Permission

    perms = list(Permission.objects.select_related("content_type"))
    for role in ROLE_NAMES:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(role_permissions(role, perms))
