from .models import Practice


def practice(request):
    """Expose the practice (name in the navbar, footer) to every template, lazily."""
    return {"practice": Practice.get}


def settings_menu(request):
    """The "Paramétrage" pages the user may open, for the navbar's menu: the same list, with the
    same permission per page as its view, as the settings pages' own side menu. Lazy (a callable
    the template calls once, in a ``{% with %}``): pages that show no navbar pay nothing."""

    def sections():
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return []
        from messaging.views_settings import settings_sections

        return settings_sections(user)

    return {"settings_menu": sections}


def replies_menu(request):
    """The number of patients' SMS replies still to handle, for the navbar's "Réponses" entry:
    None for a user who may not read them. Lazy (a callable the template calls once, in a
    ``{% with %}``): one COUNT query on pages that show the navbar, none elsewhere."""

    def count():
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        from messaging.views_replies import replies_menu_count

        return replies_menu_count(user)

    return {"replies_to_handle": count}


def nav_section(request):
    """Which navbar entry the current page belongs to ("patients", "rendez-vous", "recherches",
    "messages", "reponses", "programmeur", "parametrage"), so the base template can highlight it."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return {"nav_section": ""}
    namespace, name = match.namespace, match.url_name or ""
    if namespace == "patients":
        section = "rendez-vous" if name == "planning" or name.startswith("appointment") else "patients"
    elif namespace in {"search", "mass", "campaigns"}:
        section = "recherches"
    elif namespace == "sending" and name.startswith("repl"):
        section = "reponses"
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
