from .models import Practice


def practice(request):
    """Expose the practice (name in the navbar, footer) to every template, lazily."""
    return {"practice": Practice.get}


def nav_section(request):
    """Which navbar entry the current page belongs to ("patients", "rendez-vous", "recherches",
    "messages", "programmeur", "parametrage"), so the base template can highlight it."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return {"nav_section": ""}
    namespace, name = match.namespace, match.url_name or ""
    if namespace == "patients":
        section = "rendez-vous" if name == "planning" or name.startswith("appointment") else "patients"
    elif namespace in {"search", "mass", "campaigns"}:
        section = "recherches"
    elif namespace == "sending" and name in {"sms", "email", "preview", "history"}:
        section = "patients"  # the send windows and the history open from the patient file
    elif namespace == "sending" or (namespace == "messaging" and name == "index"):
        section = "messages"
    elif namespace == "messaging":
        section = "parametrage"
    elif namespace == "scheduler":
        section = "programmeur"
    else:
        section = ""
    return {"nav_section": section}
