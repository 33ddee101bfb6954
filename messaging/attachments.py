"""The attachments of an email type, resolved for one patient at send (or preview) time.

A patient-image rule names a type (panoramique...), an optional sub-type (face...) and which image
to take when the album holds several:

- FIRST: the earliest taken (``taken_on``, then upload order);
- LAST: the latest stage of treatment (initial < in progress < follow-up < final), the latest
  taken within that stage;
- MOST_RECENT: the latest taken, whatever its stage.

An external file is attached as it is. A rule that finds nothing (no such image, file missing on
disk) attaches nothing and adds a warning the preview and the send log show.

A file attached once from the send window (``UploadedAttachment``, source ``upload``) is checked
like an external file (``practice.uploads.validate_attachment``: type, content,
``EMAIL_ATTACHMENT_MAX_MB``), stored when it comes in, and named by each message that carries it.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from patients.models import ImageStage, ImageSubtype, ImageType, Patient, PatientImage

from .models import AttachmentRule, EmailTemplate, ImagePick, Message, UploadedAttachment

SOURCE_PATIENT_IMAGE = "patient_image"
SOURCE_EXTERNAL_FILE = "external_file"
SOURCE_UPLOAD = "upload"
# A file chosen in a send window that was never sent (window left, file unticked) is removed
# after this many hours.
UNUSED_UPLOAD_HOURS = 24
UPLOAD_FOLDER = "pieces-jointes/"

# The order of treatment stages for LAST ("Fin (dernier stade)").
STAGE_RANK = {ImageStage.INITIAL: 0, ImageStage.IN_PROGRESS: 1, ImageStage.FOLLOW_UP: 2, ImageStage.FINAL: 3}


@dataclass(frozen=True)
class ResolvedAttachment:
    filename: str
    path: str
    mimetype: str
    source: str


class ResolvedAttachments(list):
    """A list of ResolvedAttachment with ``warnings``: one French sentence per rule that found
    nothing for the patient."""

    def __init__(self, items=(), warnings=None):
        super().__init__(items)
        self.warnings: list[str] = list(warnings or [])


def image_rule_description(rule: AttachmentRule) -> str:
    """ "Panoramique – Face" for a rule's type and sub-type."""
    type_label = ImageType(rule.image_type).label if rule.image_type in ImageType.values else rule.image_type
    if rule.image_subtype:
        sub = ImageSubtype(rule.image_subtype).label if rule.image_subtype in ImageSubtype.values else rule.image_subtype
        return f"{type_label} – {sub}"
    return type_label


def pick_image(*, rule: AttachmentRule, patient: Patient) -> PatientImage | None:
    """The patient's image that ``rule`` designates, or None."""
    images = PatientImage.objects.filter(patient=patient, image_type=rule.image_type)
    if rule.image_subtype:
        images = images.filter(subtype=rule.image_subtype)
    if rule.image_pick == ImagePick.FIRST:
        return images.order_by("taken_on", "uploaded_at", "id").first()
    if rule.image_pick == ImagePick.LAST:
        rank = Case(
            *(When(stage=stage, then=Value(n)) for stage, n in STAGE_RANK.items()),
            default=Value(-1),
            output_field=IntegerField(),
        )
        return images.annotate(stage_rank=rank).order_by("-stage_rank", "-taken_on", "-uploaded_at", "-id").first()
    return images.order_by("-taken_on", "-uploaded_at", "-id").first()


def _from_file(field_file, source: str) -> ResolvedAttachment | None:
    try:
        path = field_file.path
    except (ValueError, NotImplementedError):
        return None
    if not os.path.isfile(path):
        return None
    filename = os.path.basename(field_file.name)
    mimetype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return ResolvedAttachment(filename=filename, path=path, mimetype=mimetype, source=source)


def attachments_for(*, template: EmailTemplate, patient: Patient) -> ResolvedAttachments:
    """The files ``template`` attaches for ``patient``, in the rules' order, with ``.warnings``
    for the rules that found nothing."""
    found: list[ResolvedAttachment] = []
    warnings: list[str] = []
    rules = template.attachments.select_related("external_file").order_by("id")
    for rule in rules:
        if rule.external_file_id:
            attachment = _from_file(rule.external_file.file, SOURCE_EXTERNAL_FILE)
            if attachment is None:
                warnings.append(
                    f"Le fichier externe « {rule.external_file.label} » est introuvable sur le serveur : "
                    "il ne sera pas joint."
                )
            else:
                found.append(attachment)
            continue
        description = image_rule_description(rule)
        image = pick_image(rule=rule, patient=patient)
        if image is None:
            warnings.append(f"Aucune image « {description} » pour ce patient : pièce jointe non ajoutée.")
            continue
        attachment = _from_file(image.file, SOURCE_PATIENT_IMAGE)
        if attachment is None:
            warnings.append(
                f"L'image « {description} » du {image.taken_on:%d/%m/%Y} est introuvable sur le serveur : "
                "elle ne sera pas jointe."
            )
        else:
            found.append(attachment)
    return ResolvedAttachments(found, warnings)


# ---------------------------------------------------------------------------------------------
# Files attached once from the send window
# ---------------------------------------------------------------------------------------------

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]+")


def _display_name(name: str) -> str:
    """The name the recipient sees: the file's own, without folders or control characters."""
    base = _UNSAFE_NAME.sub(" ", os.path.basename((name or "").replace("\\", "/"))).strip()
    return base[:200] or "piece-jointe"


def upload_store(*, upload, patient: Patient | None, user) -> UploadedAttachment:
    """Check ``upload`` (a Django UploadedFile) as every email attachment is checked
    (``practice.uploads.validate_attachment``) and store it for ``patient``'s send window.
    Raises ``django.core.exceptions.ValidationError`` with the French reason; nothing is stored
    then."""
    from practice.uploads import validate_attachment

    validate_attachment(upload)
    filename = _display_name(upload.name)
    record = UploadedAttachment(filename=filename, size=upload.size, patient=patient, uploaded_by=user)
    record.file.save(filename, upload, save=False)
    record.save()
    return record


def uploads_of_window(*, ids: Iterable[str], patient: Patient, user) -> list[UploadedAttachment]:
    """The files already stored by earlier submits of a send window (their ids, as posted back
    by the window): only those ``user`` stored for ``patient``, in upload order."""
    # ASCII digits only ("²" is a digit to str.isdigit, not to int), of an id a row can have.
    wanted = {int(i) for i in map(str, ids) if i.isascii() and i.isdigit() and len(i) < 19}
    if not wanted:
        return []
    return list(UploadedAttachment.objects.filter(pk__in=wanted, patient=patient, uploaded_by=user).order_by("pk"))


def upload_entries(uploads: Iterable[UploadedAttachment]) -> list[dict]:
    """What a message's ``attachments`` holds of each upload: kept from the start (the file is
    stored already), so the history offers it and a resend carries it."""
    return [
        {"filename": u.filename, "path": u.file.name, "source": SOURCE_UPLOAD, "kept": True,
         "mimetype": mimetypes.guess_type(u.filename)[0] or "application/octet-stream"}
        for u in uploads
    ]


def uploads_mark_used(uploads: Iterable[UploadedAttachment]) -> None:
    """The uploads now carried by messages: kept as long as the history."""
    ids = [u.pk for u in uploads]
    if ids:
        UploadedAttachment.objects.filter(pk__in=ids).update(used=True)


def uploads_purge_unused(*, now: dt.datetime | None = None) -> int:
    """Remove the files chosen in a send window and never sent, older than
    ``UNUSED_UPLOAD_HOURS`` (their rows and their stored bytes). Returns how many."""
    now = now or timezone.now()
    stale = list(UploadedAttachment.objects.filter(used=False, uploaded_at__lt=now - dt.timedelta(hours=UNUSED_UPLOAD_HOURS)))
    for upload in stale:
        upload.file.delete(save=False)
        upload.delete()
    return len(stale)


def upload_visible(name: str) -> bool:
    """Whether the stored file ``name`` is a one-off attachment staff may open: waiting in its
    send window (not sent yet), or carried by a message of the history that was not deleted
    (a message deleted from the history no longer shows its attachments anywhere)."""
    if not name.startswith(UPLOAD_FOLDER):
        return False
    upload = UploadedAttachment.objects.filter(file=name).only("used", "patient_id").first()
    if upload is None:
        return False
    if not upload.used:
        return True
    carried = Message.objects.filter(patient_id=upload.patient_id, hidden=False).exclude(attachments=[])
    return any(
        a.get("source") == SOURCE_UPLOAD and a.get("path") == name
        for attachments in carried.values_list("attachments", flat=True).iterator()
        for a in attachments or []
    )
