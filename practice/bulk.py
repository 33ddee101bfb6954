"""Helpers for work on thousands of rows at once.

The fast path (PostgreSQL, ``BULK_FAST_PATH`` on) and the plain Django path give the same rows;
``fast_path()`` says which one runs.
"""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.conf import settings
from django.db import connections


def fast_path(using: str = "default") -> bool:
    """Whether the work on thousands of rows takes PostgreSQL's fast path (binary fetches, a
    mailing inserted in a few statements) or plain Django (``bulk_create``, ORM iteration): the
    latter on SQLite, and everywhere with the setting ``BULK_FAST_PATH`` off."""
    from django.conf import settings

    return connections[using].vendor == "postgresql" and getattr(settings, "BULK_FAST_PATH", True)


def statements(queries, using: str = "default") -> int:
    """How many statements ``queries`` (a ``CaptureQueriesContext`` or its ``captured_queries``)
    made, the INSERT batches into one table counted once on the plain path: SQLite takes at most
    999 parameters a statement (Django 5.2), so ``bulk_create`` cuts a mailing into batches
    whose number grows with it. On the fast path every statement counts. What the tests and the
    bench compare when they check that a mailing's queries do not grow with its size."""
    sqls = [q["sql"] for q in getattr(queries, "captured_queries", queries)]
    if fast_path(using):
        return len(sqls)
    tables = {sql.split("(", 1)[0] for sql in sqls if sql.startswith("INSERT INTO")}
    return len([sql for sql in sqls if not sql.startswith("INSERT INTO")]) + len(tables)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block (reference counting still frees
    everything as usual). Building a mailing allocates tens of thousands of objects, and each
    allocation threshold crossed made the collector walk the whole heap again: about a sixth of
    the time of a 10,000-message mailing. Nothing built there forms cycles that must go before
    the block ends; the collector resumes right after, in a ``finally``."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def values_rows(queryset) -> list[tuple]:
    """The rows of a ``values_list()`` queryset, fetched in PostgreSQL's binary format.

    Django loads ``timestamptz`` through a loader written in Python (to give the datetimes its
    time zone object), about 5 µs a value; psycopg's binary loaders are in C and give the same
    values (checked here: the session's time zone object must be the one Django uses). For the
    tens of thousands of rows of a mailing this halves the fetch. Other databases, and columns
    with database converters, go through the ORM."""
    connection = connections[queryset.db]
    if not fast_path(queryset.db):
        return list(queryset)
    compiler = queryset.query.get_compiler(queryset.db)
    sql, params = compiler.as_sql()
    if compiler.get_converters([col for col, _sql, _alias in compiler.select]):
        return list(queryset)
    connection.ensure_connection()
    pg = connection.connection
    if not settings.USE_TZ or pg.info.timezone is not connection.timezone:
        return list(queryset)
    # Lists (of ids) as binary parameters: dumped as text, each element goes through a regular
    # expression. Other parameters as Django sends them. ("%%" is a literal percent sign.)
    kinds = iter(["%b" if isinstance(p, list | tuple) else "%s" for p in params])
    sql = re.sub(r"%[%s]", lambda m: m.group(0) if m.group(0) == "%%" else next(kinds), sql)
    started = time.monotonic()
    with connection.wrap_database_errors, psycopg.Cursor(pg) as cursor:
        cursor.execute(sql, params, binary=True)
        rows = cursor.fetchall()
    if connection.queries_logged:
        # Outside Django's cursor wrapper: logged like a query, so query counts stay true.
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return rows
