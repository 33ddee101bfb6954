"""What SMS cost before they leave: the price of one SMS part (set per gateway on the
"Paramétrage SMS" page, ``Practice.sms_prices``) times the parts each message takes, and the
recipients whose name alone turns a message into several UCS-2 parts ("Anaïs": the "ï" is outside
GSM-7, so 70 characters per SMS instead of 160).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils.translation import get_language, gettext, ngettext


def gateway_name() -> str:
    from messaging.gateways import configured_name

    return configured_name()


def price_per_part(practice=None, gateway: str | None = None) -> Decimal | None:
    """The price (euros) of one SMS part with ``gateway`` (the configured one by default), or None
    when the practice has not set it."""
    if practice is None:
        from practice.models import Practice

        practice = Practice.get()
    raw = (practice.sms_prices or {}).get(gateway if gateway is not None else gateway_name())
    if raw in (None, ""):
        return None
    try:
        price = Decimal(str(raw))
    except InvalidOperation:
        return None
    return price if price >= 0 else None


def format_eur(amount: Decimal, *, price: bool = False) -> str:
    """An amount in euros as the reader's language writes it, rounded to the cent; a ``price``
    per part keeps up to four decimals. French: ``1 234,50 €`` (comma decimal, narrow no-break
    space between thousands, ``0,0725 €``); English: ``€1,234.50`` (``€0.0725``), as the live
    counter of the same page writes it (messaging/static/messaging/sms_counter.js)."""
    amount = Decimal(amount)
    places = 4 if price and amount != amount.quantize(Decimal("0.01")) else 2
    rounded = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if (get_language() or "fr").startswith("en"):
        return f"€{rounded:,.{places}f}"
    text = f"{rounded:,.{places}f}".replace(",", "\u202f").replace(".", ",")
    return f"{text}\u00a0€"


def parts_label(parts: int) -> str:
    return f"{parts} SMS"


@dataclass
class Estimate:
    """The cost of a set of SMS: ``parts`` in all for ``messages`` messages at ``price`` a part
    (None: no price set, only the parts are known)."""

    price: Decimal | None
    messages: int = 0
    parts: int = 0
    # (recipient label, parts as merged, parts with the name in GSM-7): names that cost extra parts.
    accented: list[tuple[str, int, int]] = field(default_factory=list)

    def add(self, parts: int) -> None:
        self.messages += 1
        self.parts += parts

    @property
    def total(self) -> Decimal | None:
        return None if self.price is None else self.price * self.parts

    @property
    def total_text(self) -> str:
        """``≈ 12,40 € pour 155 SMS`` (or ``155 SMS`` without a price)."""
        if self.price is None:
            return parts_label(self.parts)
        return gettext("≈ %(amount)s pour %(parts)s") % {"amount": format_eur(self.total), "parts": parts_label(self.parts)}

    def per_message(self, parts: int) -> str:
        """The cost of one message of ``parts`` parts (``≈ 0,16 €``), "" without a price."""
        return "" if self.price is None else f"≈ {format_eur(self.price * parts)}"

    @property
    def price_text(self) -> str:
        return "" if self.price is None else format_eur(self.price, price=True)

    @property
    def accented_extra(self) -> int:
        return sum(merged - plain for _, merged, plain in self.accented)

    @property
    def accented_text(self) -> str:
        """The French warning naming the recipients whose name's accent costs extra parts."""
        if not self.accented:
            return ""
        names = ", ".join(
            gettext("%(label)s (%(merged)s SMS au lieu de %(plain)s)") % {"label": label, "merged": merged, "plain": plain}
            for label, merged, plain in self.accented[:20]
        )
        more = len(self.accented) - 20
        if more > 0:
            names += " " + ngettext("et %(n)s autre", "et %(n)s autres", more) % {"n": more}
        extra = self.accented_extra
        cost = (gettext(", soit %(amount)s de plus") % {"amount": self.per_message(extra).lstrip("≈ ")}
                if self.price is not None else "")
        text = ngettext(
            "Une lettre accentuée hors GSM-7 dans le nom (ï, ë, ê…) fait passer ce message en UCS-2 "
            "(70 caractères par SMS au lieu de 160) : %(names)s. %(extra)s SMS de plus%(cost)s.",
            "Une lettre accentuée hors GSM-7 dans le nom (ï, ë, ê…) fait passer ces messages en UCS-2 "
            "(70 caractères par SMS au lieu de 160) : %(names)s. %(extra)s SMS de plus%(cost)s.",
            len(self.accented),
        )
        return text % {"names": names, "extra": extra, "cost": cost}


def new_estimate(practice=None) -> Estimate:
    return Estimate(price=price_per_part(practice))


def accent_cost(composed_parts: int, plain_parts: int) -> bool:
    """True when the name's letters outside GSM-7 cost extra parts."""
    return plain_parts < composed_parts
