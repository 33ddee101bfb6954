"""What the tests that start real processes (a django-q2 cluster, a dispatch worker, the demo
SMTP server) give them to reach the test database."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

from django.db import connection


def database_url_for_processes() -> str:
    """DATABASE_URL of the test database: on PostgreSQL the server of DATABASE_URL with the test
    database's name, on SQLite the test database's file (a file, see practice/settings_test.py)."""
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{name}"
    return urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}"))
