"""Helpers for work on thousands of rows at once.

The fast path (PostgreSQL, ``BULK_FAST_PATH`` on) and the plain Django path give the same rows;
``fast_path()`` says which one runs (see docs/performance.md).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain, islice

import psycopg
from django.conf import settings
from django.db import connections
from django.db.models import DEFERRED, F, Lookup, Q
from django.db.models.base import ModelState
from django.utils import timezone


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


class AnyOf(Lookup):
    """``field = ANY(%s)``: the ids as one array parameter. ``pk__in`` with 10,000 ids sends and
    plans 10,000 parameters, a tenth of a second before the first row (PostgreSQL only). The
    array goes as its text, '{1,2,3}', joined at C speed: psycopg dumps a Python list element by
    element. Integer ids only."""

    lookup_name = "any_of"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return "%s", ["{" + ",".join(map(str, map(int, value))) + "}"]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        array_type = self.lhs.output_field.rel_db_type(connection)
        return f"{lhs} = ANY({rhs}::{array_type}[])", [*lhs_params, *rhs_params]


def among(name: str, ids, using: str = "default") -> Q | Lookup:
    """The filter "``name`` is one of the integer ``ids``": ``AnyOf`` on the fast path,
    ``name__in`` otherwise."""
    ids = list(ids)
    if fast_path(using):
        return AnyOf(F(name), ids)
    return Q(**{f"{name}__in": ids})


def instance_builder(model, attnames: Sequence[str], db: str) -> Callable[[tuple], object]:
    """The function that builds an instance of ``model`` from a database row of the columns
    ``attnames`` (the others deferred: loaded on access, like ``.defer()``), as a queryset
    would build it.

    Plain path: ``Model.from_db``. Fast path: the values go straight into the instance's
    ``__dict__``, which is where ``Model.__init__`` puts them for these models (plain fields,
    foreign key ids, and ``PhoneField``, whose stored value is already E.164), minus the
    per-field ``__init__`` (half the cost of loading thousands of rows). No ``pre_init`` /
    ``post_init`` receivers may exist for ``model``: tests/patients/test_rows_for_messages.py
    checks it, and that both paths give the instances the ORM gives."""
    attnames = list(attnames)
    if not fast_path(db):
        names = [f.attname for f in model._meta.concrete_fields]
        at = {name: i for i, name in enumerate(attnames)}
        order = [at.get(n) for n in names]

        def from_db(row):
            return model.from_db(db, names, [DEFERRED if i is None else row[i] for i in order])

        return from_db

    def from_dict(row):
        instance = model.__new__(model)
        instance.__dict__.update(zip(attnames, row, strict=True))
        state = instance._state = ModelState()
        state.adding, state.db = False, db
        return instance

    return from_dict


# On the fast path the rows of one call go in at most this many INSERT statements: the query
# count does not depend on the number of rows. Up to _INSERT_MIN_ROWS rows (every treatment
# run, most mailings), one statement.
INSERT_STATEMENTS = 8
_INSERT_MIN_ROWS = 1000
# The first and last statements are this many times smaller than the others. The server
# inserts a statement's rows a little slower than they are composed: it waits, idle, for the
# first statement, and once the last row is composed it still has the last statement to do,
# which nothing overlaps.
_EDGE_STATEMENT_SHARE = 4


def _statement_sizes(count: int) -> list[int]:
    """How many of ``count`` rows each INSERT statement takes: one statement up to
    ``_INSERT_MIN_ROWS``, otherwise one per ``_INSERT_MIN_ROWS`` rows up to
    ``INSERT_STATEMENTS``, of equal sizes but the first and the last, smaller."""
    if count <= _INSERT_MIN_ROWS:
        return [max(count, 1)]
    n = min(INSERT_STATEMENTS, math.ceil(count / _INSERT_MIN_ROWS))
    if n == 2:
        last = max(1, count // (_EDGE_STATEMENT_SHARE + 1))
        return [count - last, last]
    edge = max(1, count // (_EDGE_STATEMENT_SHARE * (n - 2) + 2))
    size, larger = divmod(count - 2 * edge, n - 2)
    return [edge] + [size + 1] * larger + [size] * (n - 2 - larger) + [edge]


def insert_rows(model, names: Sequence[str], rows: Iterable[tuple], *, count: int, using: str = "default") -> None:
    """Insert rows of ``model``: tuples of values for its attnames ``names``, about ``count`` of
    them (to size the statements), possibly produced as they are inserted. The other columns
    take their field's default (``auto_now`` / ``auto_now_add`` ones: now). No primary keys
    are returned, no signal is sent (like ``bulk_create``).

    Plain path: ``bulk_create``, in the batches the database allows.

    Fast path: ``INSERT … SELECT … FROM unnest(arrays)``, one array per column (a column with
    the same value in every row of a statement is one parameter), in at most
    ``INSERT_STATEMENTS`` statements sent in pipeline mode. The server inserts a statement's
    rows while the next ones are composed (merging 10,000 messages and inserting them take about
    the same time, on two cores). The foreign-key checks of the table run at the end of each
    statement instead of all at commit, so they overlap too. A query made while composing (a
    merge field reading the database) simply waits for the statements sent before it. Unique
    constraints are checked as usual (IntegrityError)."""
    connection = connections[using]
    meta = model._meta
    now = timezone.now()
    fixed = [
        (f, now if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) else f.get_default())
        for f in meta.concrete_fields
        if f.attname not in names and not f.primary_key
    ]
    if not fast_path(using):
        constant = {f.attname: v for f, v in fixed}
        model.objects.using(using).bulk_create(model(**constant, **dict(zip(names, row, strict=True))) for row in rows)
        return
    sizes = _statement_sizes(count)
    # ``count`` may be an estimate: the last statement takes whatever rows remain.
    sizes_left = chain(sizes[:-1], [None])
    rows = iter(rows)
    chunk = list(islice(rows, next(sizes_left)))
    if not chunk:
        return
    fields = [meta.get_field(n) for n in names]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in [*fields, *(f for f, _v in fixed)])
    types = [_db_type(f, connection) for f in fields]
    fixed = [_fixed(f, v, connection) for f, v in fixed]
    head = f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) "
    connection.ensure_connection()
    pg = connection.connection
    with connection.wrap_database_errors, psycopg.Cursor(pg) as cursor:

        def run(sql: str, params=None) -> None:
            started = time.monotonic()
            cursor.execute(sql, params)
            if connection.queries_logged:
                # Outside Django's cursor wrapper: logged like a query, so counts stay true.
                connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})

        checked = ""
        if len(sizes) > 1:  # several statements: their checks overlap composing too
            run(_FOREIGN_KEYS_SQL, [meta.db_table])
            checked = ", ".join(connection.ops.quote_name(name) for (name,) in cursor.fetchall())
        if checked:
            run(f"SET CONSTRAINTS {checked} IMMEDIATE")
        with pg.pipeline():
            while chunk:
                sql, params = _insert_select(fields, types, chunk, fixed)
                run(head + sql, params)
                chunk = list(islice(rows, next(sizes_left, 0)))
        if checked:
            # Back to deferred, as Django creates them (only reached without error: after one,
            # the transaction or savepoint is rolled back, and SET CONSTRAINTS with it).
            run(f"SET CONSTRAINTS {checked} DEFERRED")


# The deferrable foreign keys of a table (looked up each time: a migration may rename them
# under a running process).
_FOREIGN_KEYS_SQL = (
    "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f' AND condeferrable "
    "ORDER BY conname"
)


def _fixed(field, value, connection) -> tuple[str, object]:
    """(SQL type, parameter) of a column every row leaves to its default: a JSON one is sent as
    its JSON text (None: SQL NULL) and cast to jsonb, as the columns given are."""
    if field.get_internal_type() == "JSONField":
        return "text::jsonb", None if value is None else json.dumps(value)
    return _db_type(field, connection), value


def _db_type(field, connection) -> str:
    if field.get_internal_type() == "JSONField":
        return "text"  # sent as its JSON text, cast to jsonb in the SELECT
    # No length: a value too long fails on insert (a cast to varchar(n) would cut it).
    return re.sub(r"\(.*\)", "", field.db_type(connection))


# Separator of the joined text of a text column (ASCII "unit separator": no message holds it;
# checked for each column, which falls back to a list otherwise).
_TEXT_SEPARATOR = "\x1f"
_TEXT_TYPES = frozenset({"text", "varchar"})
# Integer columns: their values joined by str() (None as 'None', given as the null string).
_INTEGER_TYPES = frozenset({"integer", "bigint", "smallint"})
_INTEGER_VALUES = frozenset({int, type(None)})


def _array(sql_type: str, column: tuple) -> tuple[str, object]:
    """The SQL of one column's array of values and its parameter.

    psycopg dumps a list parameter element by element in Python, about 0.6 µs each (eight
    varying columns in a 10,000-message mailing: 50 ms, on the critical path). Here the values are
    joined into one text at C speed instead, and the server splits it (``string_to_array``):
    text with a separator no message holds, integers through ``str()``. Other columns (times:
    ``str()`` of a datetime is slower than psycopg), and a column that does not fit (a separator
    inside a value, a value of another type), go as a list."""
    if sql_type in _TEXT_TYPES:
        try:
            joined = _TEXT_SEPARATOR.join(column)
        except TypeError:  # a value that is not a str (None, a lazy translation)
            pass
        else:
            if joined.count(_TEXT_SEPARATOR) == len(column) - 1:
                return f"string_to_array(%b::text, %b::text)::{sql_type}[]", [joined, _TEXT_SEPARATOR]
    elif sql_type in _INTEGER_TYPES and set(map(type, column)) <= _INTEGER_VALUES:
        return f"string_to_array(%b::text, ',', 'None')::{sql_type}[]", [",".join(map(str, column))]
    return f"%b::{sql_type}[]", [list(column)]


def _insert_select(fields, types: list[str], chunk: list[tuple], fixed: list[tuple]) -> tuple[str, list]:
    """The ``SELECT … FROM unnest(…)`` of one INSERT and its parameters (binary format):
    ``types`` are the fields' SQL types, ``fixed`` (SQL type, value) of the columns that take
    one value for every row."""
    columns = []
    for field, column in zip(fields, zip(*chunk, strict=True), strict=True):
        if field.get_internal_type() == "JSONField":
            # None is SQL NULL in a nullable column (as bulk_create writes it), else an empty list.
            empty = None if field.null else "[]"
            column = tuple(json.dumps(v) if v else (empty if v is None else json.dumps(v)) for v in column)
        columns.append(column)
    # A column with the same value in every row is one parameter (dumping thousands of equal
    # elements costs as much as the others); one array at least gives the number of rows.
    varying = [len(chunk) > 1 and column.count(column[0]) != len(column) for column in columns]
    if len(chunk) > 1 and not any(varying):
        varying[0] = True
    exprs, scalars, arrays, aliases = [], [], [], []
    for i, (field, sql_type, column) in enumerate(zip(fields, types, columns, strict=True)):
        cast = "::jsonb" if field.get_internal_type() == "JSONField" else ""
        if varying[i]:
            exprs.append(f"v.c{i}{cast}")
            aliases.append(f"c{i}")
            arrays.append(_array(sql_type, column))
        else:
            exprs.append(f"%b::{sql_type}{cast}")
            scalars.append(column[0])
    for sql_type, value in fixed:
        exprs.append(f"%b::{sql_type}")
        scalars.append(value)
    sql = f"SELECT {', '.join(exprs)}"
    if arrays:
        sql += f" FROM unnest({', '.join(a for a, _ in arrays)}) AS v({', '.join(aliases)})"
    return sql, [*scalars, *(value for _, values in arrays for value in values)]




# ---------------------------------------------------------------------------------------------
# Writes and a read that belong together, compiled once
# ---------------------------------------------------------------------------------------------

# A write: a function of named values returning (queryset naming ONE row, changes for
# ``update()``). A read: a function of named values returning a ``values_list()`` queryset of at
# most one row. Both are plain Django; ``Together`` runs them.
Write = tuple[Callable[..., tuple[object, dict]], dict]
Read = tuple[Callable[..., object], dict]


def _slot(value, n: int):
    """A stand-in for ``value`` that no real value equals (same type), or None when values of
    its type cannot be told apart in the compiled parameters (booleans, None, JSON, ...): those
    are part of the statement's key instead."""
    kind = type(value)
    if kind is int:  # negative (no row has such an id), inside a 32-bit column's range
        return -1_900_000_000 - n
    if kind is str:
        return f"\x00slot-{n}\x00"
    if kind is dt.datetime and value.tzinfo is not None:
        return dt.datetime(1, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=n + 1)
    return None


def _stood_in(value) -> bool:
    """Whether ``_slot`` has a stand-in for ``value`` (without building one: the key of every
    statement run asks it for each value)."""
    kind = type(value)
    return kind is int or kind is str or (kind is dt.datetime and value.tzinfo is not None)


class _Compiled:
    """SQL and parameters built once by Django, and where each variable value goes in them."""

    def __init__(self, sql: str, params: list, places: dict[tuple[int, str], list[int]]):
        self.sql, self.params = sql, params
        # (index of the write or read, name of the value) -> its places in ``params``.
        self.places = [(part, name, indexes) for (part, name), indexes in places.items()]

    def bind(self, parts: Sequence[dict]) -> list:
        """The parameters with the values of ``parts`` (the values of each write, then the
        read's) in their places."""
        params = list(self.params)
        for part, name, indexes in self.places:
            value = parts[part][name]
            for i in indexes:
                params[i] = value
        return params


class Together:
    """Single-row writes, then a read about the row of the last one, in ONE commit.

    What dispatch does for each message (``messaging.lifecycle.hand_over_next``): record the
    outcome of the message it sent before, hand the next one over and read what that one's
    last-moment checks need.

    Plain path: the writes as ``QuerySet.update()`` and the read as a query, in one
    ``transaction.atomic()``; the read is skipped when the last write changed no row.

    Fast path (PostgreSQL): ONE statement, one round trip, ``WITH w0 AS (UPDATE … RETURNING 1),
    w1 AS (…) SELECT (SELECT count(*) FROM w0), …, r.* FROM (SELECT 1) LEFT JOIN (read) r ON
    EXISTS (SELECT 1 FROM w_last)``; each shape of it (which writes, which values of the kinds
    that cannot be stood in for) compiled by Django once per ``Together``, then run with new
    values. The read sees the database as it was when the statement began: the rows the writes
    change are not what it reads (their state is in the counts).

    Keep one ``Together`` per run: the queries a read is built from may depend on the time it
    was built (a period counted back from then)."""

    def __init__(self, using: str = "default"):
        self.using = using
        self._compiled: dict[tuple, _Compiled] = {}

    def run(self, writes: Sequence[Write], read: Read | None = None) -> tuple[list[int], tuple | None]:
        """Run ``writes`` in order, then ``read`` if the last write changed its row (or when
        there is no write). Returns how many rows each write changed (0 or 1) and the row read
        (None when not read or not found)."""
        if not fast_path(self.using):
            return self._plain(writes, read)
        parts = (*writes, read) if read else tuple(writes)
        key = (*(self._key(build, values) for build, values in parts), len(writes), read is not None)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(writes, read)
        row = self._execute(compiled, [values for _build, values in parts])
        if not writes:
            return [], (tuple(row) if row is not None else None)
        counts = [int(c) for c in row[: len(writes)]]
        if read is None or not counts[-1]:
            return counts, None
        return counts, tuple(row[len(writes):])

    def _execute(self, compiled: _Compiled, values: Sequence[dict]) -> tuple | None:
        """Run ``compiled`` as a prepared statement: the same SQL every time, its values bound
        by the server (Django binds them into the text, which PostgreSQL must then parse and plan
        again for every message: planning took four times as long as running it)."""
        connection = connections[self.using]
        connection.ensure_connection()
        started = time.monotonic()
        pg = connection.connection
        # Django turns psycopg's prepared statements off for the connection (they do not survive
        # a pooler in transaction mode); this one statement is prepared all the same.
        threshold, pg.prepare_threshold = pg.prepare_threshold, 0
        try:
            with connection.wrap_database_errors, psycopg.Cursor(pg) as cursor:
                cursor.execute(compiled.sql, compiled.bind(values), prepare=True)
                row = cursor.fetchone()
        finally:
            pg.prepare_threshold = threshold
        if connection.queries_logged:
            # Outside Django's cursor wrapper: logged like a query, so query counts stay true.
            connection.queries_log.append({"sql": compiled.sql, "time": f"{time.monotonic() - started:.3f}"})
        return row

    @staticmethod
    def _key(build, values: dict) -> tuple:
        return (build, *sorted((name, type(v), None if _stood_in(v) else repr(v)) for name, v in values.items()))

    def _compile(self, writes: Sequence[Write], read: Read | None) -> _Compiled:
        from django.db.models.sql import UpdateQuery

        parts: list[tuple[str, list]] = []
        slots: dict[tuple[int, str], object] = {}
        for i, (build, values) in enumerate((*writes, *([read] if read else []))):
            stand_ins = {}
            for name, value in values.items():
                slot = _slot(value, len(slots))
                if slot is None:
                    stand_ins[name] = value
                else:
                    stand_ins[name] = slots[i, name] = slot
            if i < len(writes):
                queryset, changes = build(**stand_ins)
                # What QuerySet.update() compiles (without running it).
                query = queryset.query.chain(UpdateQuery)
                query.add_update_values(changes)
                query.annotations = {}
                sql, params = query.get_compiler(self.using).as_sql()
                sql += " RETURNING 1"
            else:
                sql, params = build(**stand_ins).query.get_compiler(self.using).as_sql()
            parts.append((sql, list(params)))
        if writes:
            ctes = ", ".join(f"w{i} AS ({sql})" for i, (sql, _p) in enumerate(parts[: len(writes)]))
            counts = [f"(SELECT count(*) FROM w{i})" for i in range(len(writes))]
            sql = f"WITH {ctes} SELECT " + ", ".join([*counts, "r.*"] if read else counts)
            if read:
                sql += f" FROM (SELECT 1) AS one LEFT JOIN ({parts[-1][0]}) AS r ON EXISTS (SELECT 1 FROM w{len(writes) - 1})"
        else:
            sql = parts[-1][0]
        params = [p for _sql, ps in parts for p in ps]
        places: dict[tuple[int, str], list[int]] = {name: [] for name in slots}
        for index, param in enumerate(params):
            for name, slot in slots.items():
                if type(param) is type(slot) and param == slot:
                    places[name].append(index)
        lost = [name for name, found in places.items() if not found]
        if lost:  # a value Django transformed: it could not be put back; refuse rather than guess
            raise ValueError(f"Values not found in the compiled statement: {lost}")
        return _Compiled(sql, params, places)

    def _plain(self, writes: Sequence[Write], read: Read | None) -> tuple[list[int], tuple | None]:
        from django.db import transaction

        counts: list[int] = []
        row = None
        with transaction.atomic(using=self.using):
            for build, values in writes:
                queryset, changes = build(**values)
                counts.append(queryset.using(self.using).update(**changes))
            if read is not None and (not writes or counts[-1]):
                rows = list(read[0](**read[1]).using(self.using)[:1])
                row = tuple(rows[0]) if rows else None
        return counts, row
