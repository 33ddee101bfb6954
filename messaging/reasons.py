"""Reasons stored with a message, read in the language of whoever reads them.

A reason (why a message failed, was cancelled, skipped, waits, or why an email account is
paused) is written by the dispatch, the last-moment checks, the gateways, the scheduler…, often
with nobody in front of it, and read later by staff in their own language. So the code that
writes one gives a ``Why``: a French msgid (marked with ``gettext_noop`` so ``makemessages`` puts
it in the catalogue) and its ``%(name)s`` parameters. A ``Why`` is also its French text (a
``str``): code, logs and tests that read a reason as text read the French, as before.
``messaging.lifecycle`` (the only writer of a message's reason) stores both:

- ``reason``: the French text, as it always was (search, exports, the admin, logs and the
  scheduler's unattended trace read it);
- ``reason_i18n``: the msgid and parameters as JSON (``Why.as_json``), rendered again in the
  viewer's language by ``shown`` (``Message.reason_shown``, ``EmailAccount.pause_reason_shown``).

A parameter is kept as given when it is a plain value (a name, a number, an error text that a
gateway or a mail server sent: shown as received, inside the translated sentence around it), is
translated when it is itself a ``Why`` or a lazy translation (the policy's ``Reason`` labels), and
a ``Clock`` (a time of day) is formatted for the reader (``10h00`` / ``10:00``, the ``heure``
filter). Dates are written ``06/12/2026`` in both languages (docs/langues.md): plain strings.
Times are the practice's local time when written (the practice has one time zone). A list of
reasons ("Données manquantes : @RDV1 … @PNOM …", the appointments taken out of a family SMS) is
one ``Why`` made of its parts (``joined``), each shown in the reader's language; a sentence used
as a part of a list drops its final "." in every language (``Why.without_period``).

A ``Why`` given to a template as it is computed (a preview's "Rappel déjà envoyé…") is rendered
in the reader's language too (``__html__``), while Python code comparing it reads the French.

A row written before ``reason_i18n`` existed, a plain ``str`` reason, or a stored msgid whose
parameters do not fit any more shows the stored French text: nothing is ever lost.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from django.utils import translation
from django.utils.functional import Promise
from django.utils.html import escape
from django.utils.translation import gettext, gettext_noop

logger = logging.getLogger(__name__)

# Longest stored reason (the ``reason`` columns' max_length).
MAX_LENGTH = 500


class Clock:
    """A time of day in a reason, shown ``20h00`` in French and ``20:00`` in English."""

    __slots__ = ("time",)

    def __init__(self, moment: dt.datetime | dt.time):
        self.time = moment.time() if isinstance(moment, dt.datetime) else moment

    def __repr__(self) -> str:
        return f"Clock({self.time:%H:%M})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Clock) and self.time == other.time

    __hash__ = None

    def french(self) -> str:
        return f"{self.time:%H}h{self.time:%M}"

    def shown(self) -> str:
        """In the active language (the ``heure`` filter's rule, for a time already local)."""
        if (translation.get_language() or "fr").startswith("en"):
            return f"{self.time:%H}:{self.time:%M}"
        return self.french()

    def as_json(self) -> dict:
        return {"clock": self.time.strftime("%H:%M")}


def _msgid(text: Promise) -> str:
    """The msgid of a lazy translation (``gettext_lazy("…")``): its text with no catalogue."""
    with translation.override(None):
        return str(text)


def _fill(text: str, params: dict) -> str:
    return text % params if params else text


class Why(str):
    """A reason to store: a French msgid (marked with ``gettext_noop``) and its parameters.

    It IS its French text (a ``str``: French is the source language, so the msgid filled with
    its parameters' French is the text every reader of ``reason`` gets, with no catalogue), and
    keeps what it is made of, to be shown in another language (``shown``). Parameters: plain
    values (kept as given), ``Why`` or lazy translations (translated), ``Clock`` (formatted for
    the reader). Anything that turns it into another string (``+``, an f-string) gives a plain
    French text: stored and shown as is."""

    msgid: str
    params: dict[str, Any]
    # Shown without its final "." (``without_period``): a sentence used as a part of another.
    trim = False

    def __new__(cls, msgid: str, /, **params: Any) -> Why:
        params = {name: Why(_msgid(v)) if isinstance(v, Promise) else v for name, v in params.items()}
        french = {name: v.french() if isinstance(v, Clock) else v for name, v in params.items()}
        self = super().__new__(cls, _fill(msgid, french))
        self.msgid, self.params = msgid, params
        return self

    def __repr__(self) -> str:
        return f"Why({self.msgid!r}, **{self.params!r}){'.without_period()' if self.trim else ''}"

    def without_period(self) -> Why:
        """The same reason without its final "." (in every language): a sentence that becomes
        a part of a list ("ABLIRANT Emma : RDV confirmé par SMS le 06/12 à 09h14 ; …")."""
        new = str.__new__(Why, str.__str__(self).removesuffix("."))
        new.msgid, new.params, new.trim = self.msgid, self.params, True
        return new

    @classmethod
    def of(cls, label: Promise) -> Why:
        """The ``Why`` of a lazy translation (a ``TextChoices`` label: ``Reason.STOP.label``)."""
        return cls(_msgid(label))

    def __html__(self) -> str:
        # A template shows a reason to whoever reads the page: in their language (Django's
        # escaping calls this instead of str()), like a stored one (``shown``).
        try:
            return escape(self.shown())
        except (KeyError, TypeError, ValueError):  # parameters that do not fit: the French text
            return escape(str.__str__(self))

    def shown(self) -> str:
        """The text in the active language (the msgid's translation, filled). Raises KeyError
        when the msgid names parameters and none were kept (a stored value missing its "p")."""
        if not self.params and "%(" in self.msgid:
            raise KeyError("parameters")
        text = _fill(gettext(self.msgid), {
            name: v.shown() if isinstance(v, Why | Clock) else v for name, v in self.params.items()
        })
        return text.removesuffix(".") if self.trim else text

    def as_json(self) -> dict:
        """What ``reason_i18n`` keeps: {"m": msgid, "p": {name: value}} (nested for a ``Why``)."""
        params = {name: v.as_json() if isinstance(v, Why | Clock) else v for name, v in self.params.items()}
        data = {"m": self.msgid, "p": params} if params else {"m": self.msgid}
        if self.trim:
            data["t"] = 1
        return data

    @classmethod
    def from_json(cls, data: dict) -> Why:
        """The reverse of ``as_json``; raises (KeyError, TypeError, ValueError) on a bad value."""
        params = {}
        for name, v in (data.get("p") or {}).items():
            if isinstance(v, dict) and "clock" in v:
                v = Clock(dt.time.fromisoformat(v["clock"]))
            elif isinstance(v, dict):
                v = cls.from_json(v)
            params[name] = v
        why = cls(data["m"], **params)
        return why.without_period() if data.get("t") else why


# How ``joined`` puts two parts of a list together: the same in both languages ("a b"), or
# the French "a ; b" / the English "a; b".
SPACE = "%(first)s %(rest)s"
SEMICOLON = gettext_noop("%(first)s ; %(rest)s")


def joined(parts, how: str = SPACE) -> Why | str:
    """One reason listing ``parts`` (``Why``, ``Clock`` or plain values, in order), each shown
    in the reader's language, put together by ``how`` (``SPACE`` or ``SEMICOLON``): its French
    text is the parts' French joined as before. "" for no part."""
    parts = list(parts)
    if not parts:
        return ""
    out = parts[-1]
    for part in reversed(parts[:-1]):
        out = Why(how, first=part, rest=out)
    return out if isinstance(out, Why) else Why("%(first)s", first=out)


def stored(reason: str | Why | Promise | None) -> tuple[str, dict | None]:
    """The two columns a reason is written to: (French text cut to the column's size, its msgid
    and parameters as JSON or None for a plain text)."""
    if reason is None:
        return "", None
    if isinstance(reason, Promise):
        reason = Why(_msgid(reason))
    if isinstance(reason, Why):
        data = reason.as_json()
        try:
            json.dumps(data)
        except (TypeError, ValueError):  # a parameter JSON cannot hold: the French text alone
            logger.warning("Reason %r has a parameter that cannot be stored; keeping its text", reason)
            data = None
        return str.__str__(reason)[:MAX_LENGTH], data
    return str(reason)[:MAX_LENGTH], None


def restored(text: str, data: dict | None) -> str | Why:
    """A reason read back from its two columns (to write it again elsewhere): its ``Why`` when
    it has one that can be read, else the text."""
    if data:
        try:
            return Why.from_json(data)
        except (KeyError, TypeError, ValueError, AttributeError):
            logger.warning("Stored reason %r cannot be read; keeping its stored text", data)
    return text


def shown(text: str, data: dict | None) -> str:
    """A stored reason in the active language: rendered from its msgid when the row has one,
    otherwise (a row written before, a plain text) the stored ``text``. A stored msgid that no
    longer fits (a parameter renamed since) also falls back to ``text``."""
    if not data:
        return text
    try:
        return Why.from_json(data).shown()[:MAX_LENGTH]
    except (KeyError, TypeError, ValueError, AttributeError):
        logger.warning("Stored reason %r cannot be rendered; showing its stored text", data)
        return text
