"""A campaign's check page ("qui recevra quoi"), merged once per version of the campaign.

Before a campaign leaves, its page shows each recipient's merged message, who receives nothing
and why, the messages left out for missing data and the cost (``campaigns.campaign_preview``).
Merging every recipient at each page view cost the whole merge per view (like the mass-mailing
preview before ``mass_drafts``). ``check_stored`` merges once per version of the campaign and
keeps each line (``CampaignCheckLine``) and the counts (``Campaign.check_summary``); the page's
pages read the stored lines, a page at a time.

The version (``check_version``) is a fingerprint of everything the merge reads from the campaign
and its settings: the list (size and last row; the patients' too for "tous les patients"), the
channel, kind, subject, body, account, "tous les patients", the choice about missing data, the
practice's settings (names in GSM-7, prices, identity), the values of the @PART_nn / @LIBRE_nn
codes the texts name, the configured gateway and the language the page is read in (reasons are
worded in it). A change of any of them merges again on the next view. Data changed elsewhere (a patient's
consent, a STOP received) is read again by "Recalculer" (``check_forget``), and by sending: the
send always merges anew, and scheduling stores the check it made.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from django.db import transaction
from django.db.models import Count, Max
from django.forms.models import model_to_dict
from django.utils import timezone
from django.utils.translation import get_language, gettext

from practice.bulk import gc_paused, insert_rows

from .cost import Estimate, gateway_name
from .models import Campaign, CampaignCheckLine
from .stored_lines import StoredLines


@dataclasses.dataclass
class CheckSummary:
    """The counts of a campaign's check: what sending it now would do."""

    total: int = 0
    reach: int = 0
    # (text, count), most frequent first: who receives nothing and why.
    reason_list: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    missing_data: int = 0  # left out: required merge data missing
    missing_kept: int = 0  # sent although required merge data is missing (staff's choice)
    estimate: Estimate | None = None

    @property
    def nobody(self) -> int:
        return self.total - self.reach

    @property
    def reasons(self) -> bool:
        return bool(self.reason_list)

    @property
    def missing_count(self) -> int:
        """The lines listed under "Données manquantes" (left out or kept)."""
        return self.missing_data + self.missing_kept

    def refusal(self) -> str:
        """Why a campaign that reaches nobody is refused, with the counts."""
        from .campaigns import reach_refusal

        return reach_refusal(self.total, [*self.reason_list, *(
            [(gettext("Données manquantes (voir la liste)"), self.missing_data)] if self.missing_data else [])])


@dataclasses.dataclass
class StoredCheck:
    """A campaign's check as stored: its counts, when it was merged, and its lines (a sequence
    the paginator slices: each slice is one query)."""

    summary: CheckSummary
    checked_at: dt.datetime
    lines: StoredLines

    def missing_lines(self, *, limit: int) -> list[SimpleNamespace]:
        """The first ``limit`` lines whose required merge data is missing: one query."""
        return self.lines.with_missing(limit=limit) if self.summary.missing_count else []


def check_version(campaign: Campaign, *, figures: tuple) -> str:
    """The fingerprint of what the merge of ``campaign`` reads (see the module's docstring);
    ``figures``: ``list_figures(campaign)``."""
    from practice.models import Practice

    practice = model_to_dict(Practice.get())
    parts = [
        campaign.channel, campaign.kind, campaign.subject, campaign.body, campaign.account_id,
        campaign.all_patients, campaign.keep_missing, figures,
        sorted((k, str(v)) for k, v in practice.items()), gateway_name(), get_language(), _custom_fields(campaign),
    ]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def _custom_fields(campaign: Campaign) -> list:
    """The practice's @PART_nn / @LIBRE_nn definitions, when the campaign's texts name such a
    code: their values are merged into the text, and staff edit them in their own page. One
    query per kind named, none when the texts name neither."""
    from .models import FreeField, ParticularField

    text = f"{campaign.subject}\n{campaign.body}".upper()
    out = []
    if "@PART_" in text:
        out.append(list(ParticularField.objects.order_by("number").values_list("number", "girl", "boy", "woman", "man")))
    if "@LIBRE_" in text:
        out.append(list(FreeField.objects.order_by("number").values_list("number", "ami", "amie", "confrere", "consoeur")))
    return out


def list_figures(campaign: Campaign) -> tuple:
    """The size of the campaign's stored list and its last row's id (the list's size first),
    and for a campaign to all patients the same of the patients' table (a patient added since
    is a recipient more): one query, two for all patients."""
    from patients.models import Patient

    figures = campaign.recipients.aggregate(n=Count("pk"), last=Max("pk"))
    out: tuple = (figures["n"], figures["last"])
    if campaign.all_patients:
        patients = Patient.objects.aggregate(n=Count("pk"), last=Max("pk"))
        out += (patients["n"], patients["last"])
    return out


def check_stored(campaign: Campaign, *, figures: tuple | None = None) -> StoredCheck:
    """The check of ``campaign``: merged now if the campaign changed since the stored one (or
    none is stored), else read back. ``figures``: ``list_figures(campaign)`` when the caller
    read them. The campaign is locked while it is merged, so two views of a changed campaign
    merge it once. Queries of a view that reads the stored check: those of ``list_figures``
    (none when given), plus one per page of lines read."""
    if figures is None:
        figures = list_figures(campaign)
    version = check_version(campaign, figures=figures)
    if campaign.check_version != version or campaign.check_summary is None:
        with transaction.atomic():
            locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
            if locked.check_version != version or locked.check_summary is None:
                from .campaigns import campaign_preview

                with gc_paused():
                    check_store(campaign, campaign_preview(campaign), version=version)
            else:
                campaign.check_version, campaign.check_summary, campaign.check_at = (
                    locked.check_version, locked.check_summary, locked.check_at)
    summary = summary_from_json(campaign.check_summary)
    return StoredCheck(summary=summary, checked_at=campaign.check_at, lines=StoredLines(
        CampaignCheckLine.objects.filter(campaign_id=campaign.pk), summary.total, line_from_json))


def check_store(campaign: Campaign, preview, *, version: str | None = None) -> None:
    """Keep ``preview`` (``campaigns.campaign_preview`` of ``campaign`` as it is now) as the
    campaign's check, under ``version`` (computed when not given)."""
    if version is None:
        version = check_version(campaign, figures=list_figures(campaign))
    CampaignCheckLine.objects.filter(campaign=campaign).delete()
    insert_rows(
        CampaignCheckLine, ["campaign_id", "position", "data"],
        ((campaign.pk, n, line_to_json(line)) for n, line in enumerate(preview.lines)),
        count=len(preview.lines),
    )
    campaign.check_version = version
    campaign.check_summary = summary_to_json(preview.summary())
    campaign.check_at = timezone.now()
    Campaign.objects.filter(pk=campaign.pk).update(
        check_version=campaign.check_version, check_summary=campaign.check_summary, check_at=campaign.check_at)


def check_forget(campaign: Campaign) -> None:
    """Drop the stored check: the next view merges again ("Recalculer"; and once the campaign
    is sent or cancelled, nobody reads it any more)."""
    CampaignCheckLine.objects.filter(campaign=campaign).delete()
    Campaign.objects.filter(pk=campaign.pk).update(check_version="", check_summary=None, check_at=None)
    campaign.check_version, campaign.check_summary, campaign.check_at = "", None, None


# ---------------------------------------------------------------------------------------------
# Lines and summary as JSON
# ---------------------------------------------------------------------------------------------


def line_to_json(line) -> dict[str, Any]:
    """What the check page reads of a ``campaigns.CampaignLine``."""
    r = line.recipient
    return {
        "recipient": {"name": str(r.name), "address": str(r.address), "skip_reason": str(r.skip_reason)},
        "sendable": line.sendable, "subject": str(line.subject), "text": str(line.text),
        "sms_parts": line.sms_parts, "missing": [str(m) for m in line.missing],
    }


def line_from_json(data: dict[str, Any]) -> SimpleNamespace:
    data = dict(data)
    return SimpleNamespace(recipient=SimpleNamespace(**data.pop("recipient")), **data)


def summary_to_json(summary: CheckSummary) -> dict[str, Any]:
    e = summary.estimate
    return {
        "total": summary.total, "reach": summary.reach,
        "reason_list": [[str(text), n] for text, n in summary.reason_list],
        "missing_data": summary.missing_data, "missing_kept": summary.missing_kept,
        "estimate": None if e is None else {
            "price": None if e.price is None else str(e.price), "messages": e.messages, "parts": e.parts,
            "accented": [[str(label), merged, plain] for label, merged, plain in e.accented],
        },
    }


def summary_from_json(data: dict[str, Any]) -> CheckSummary:
    e = data.get("estimate")
    return CheckSummary(
        total=data["total"], reach=data["reach"], reason_list=[(text, n) for text, n in data["reason_list"]],
        missing_data=data["missing_data"], missing_kept=data["missing_kept"],
        estimate=None if e is None else Estimate(
            price=None if e["price"] is None else Decimal(e["price"]), messages=e["messages"], parts=e["parts"],
            accented=[tuple(a) for a in e["accented"]]),
    )
