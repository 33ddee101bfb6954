"""What the demo (`make run`) starts and the shared demo password."""

from __future__ import annotations

DEMO_PASSWORD = "demo-cabinet"


def demo_children(*, host: str, port: int) -> list[tuple[str, list[str]]]:
    """(name, argv after the Python executable) of each process the demo runs side by side."""
    from django.conf import settings

    return [
        ("Programmeur (django-q2)", ["manage.py", "qcluster"]),
        # The demo email account points at this server; the demo inbox page shows what it got.
        ("Serveur SMTP de démonstration", ["manage.py", "demosmtp", "--port", str(settings.DEMO_SMTP_PORT)]),
        ("Application web", ["manage.py", "runserver", "--noreload", f"{host}:{port}"]),
    ]
