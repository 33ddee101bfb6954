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
from django.utils.translation import gettext

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
                warnings.append(gettext(
                    "Le fichier externe « %(file)s » est introuvable sur le serveur : il ne sera pas joint."
                ) % {"file": rule.external_file.label})
            else:
                found.append(attachment)
            continue
        description = image_rule_description(rule)
        image = pick_image(rule=rule, patient=patient)
        if image is None:
            warnings.append(gettext("Aucune image « %(image)s » pour ce patient : pièce jointe non ajoutée.") % {
                "image": description})
            continue
        attachment = _from_file(image.file, SOURCE_PATIENT_IMAGE)
        if attachment is None:
            warnings.append(gettext(
                "L'image « %(image)s » du %(day)s est introuvable sur le serveur : elle ne sera pas jointe."
            ) % {"image": description, "day": f"{image.taken_on:%d/%m/%Y}"})
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


def _posted_ids(ids: Iterable[str]) -> set[int]:
    # ASCII digits only ("²" is a digit to str.isdigit, not to int), of an id a row can have.
    return {int(i) for i in map(str, ids) if i.isascii() and i.isdigit() and len(i) < 19}


def uploads_of_window(*, ids: Iterable[str], patient: Patient, user) -> list[UploadedAttachment]:
    """The files already stored by earlier submits of a send window (their ids, as posted back
    by the window): only those ``user`` stored for ``patient``, in upload order."""
    wanted = _posted_ids(ids)
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


def uploads_gone(*, ids: Iterable[str]) -> list[int]:
    """The ids posted back by a send window (as ``uploads_of_window`` reads them) whose file no
    longer exists: removed by ``uploads_purge_unused`` while the window stayed open. The window
    must not send without them (``UploadGone``)."""
    wanted = _posted_ids(ids)
    if not wanted:
        return []
    there = set(UploadedAttachment.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    return sorted(wanted - there)


class UploadGone(ValueError):
    """Files of a send window removed before it was sent, with the French message naming them."""

    def __init__(self, names: Iterable[str]):
        from django.utils.translation import gettext

        self.names = [n for n in names if n]
        if self.names:
            text = " ".join(gettext("La pièce jointe « %(name)s » n'est plus disponible : joignez-la de nouveau.")
                            % {"name": name} for name in self.names)
        else:
            text = gettext("Une pièce jointe choisie plus tôt n'est plus disponible : joignez-la de nouveau.")
        super().__init__(text)


def uploads_claim(uploads: Iterable[UploadedAttachment]) -> None:
    """Mark the files a window is sending as carried (``used``), before its messages are written
    and in the same transaction: the purge (which removes only files not carried) cannot remove
    them any more. Raises ``UploadGone`` when the purge removed some since the window read them
    (the caller rolls back: nothing is sent without them)."""
    uploads = list(uploads)
    if not uploads:
        return
    ids = [u.pk for u in uploads]
    if UploadedAttachment.objects.filter(pk__in=ids).update(used=True) != len(ids):
        there = set(UploadedAttachment.objects.filter(pk__in=ids).values_list("pk", flat=True))
        raise UploadGone(u.filename for u in uploads if u.pk not in there)


def uploads_settle(*, mailing, uploads: Iterable[UploadedAttachment]) -> int:
    """After a window's send wrote (or, for a repeated post, found) ``mailing``: its files that
    no message of ``mailing`` carries are removed at once, file and row, unless they were carried
    already before this window claimed them (``used`` as the window read them). Such a file was
    a copy stored by the second of two posts of the same window, or the messages were all left
    out: the window's token is spent, nothing can send it any more. Returns how many. The bytes
    go once the transaction commits (a rollback keeps them)."""
    from django.db import transaction

    uploads = [u for u in uploads if not u.used]
    if not uploads:
        return 0
    carried = {
        a.get("path")
        for attachments in mailing.messages.values_list("attachments", flat=True)
        for a in attachments or []
        if a.get("source") == SOURCE_UPLOAD
    }
    extra = [u for u in uploads if u.file.name not in carried]
    if extra:
        UploadedAttachment.objects.filter(pk__in=[u.pk for u in extra]).delete()
        names = [u.file.name for u in extra]
        storage = extra[0].file.storage
        transaction.on_commit(lambda: [storage.delete(name) for name in names])
    return len(extra)


def uploads_purge_unused(*, now: dt.datetime | None = None) -> int:
    """Remove the files chosen in a send window and never sent, older than
    ``UNUSED_UPLOAD_HOURS`` (their rows and their stored bytes). Returns how many. Run by the
    five-minute housekeeping task (``messaging.tasks.reconcile_task``) and at each new upload.
    Each row is removed only while it is still not carried (a send claiming it at that moment
    wins, ``uploads_claim``), and its bytes only once the row is gone."""
    now = now or timezone.now()
    stale = list(UploadedAttachment.objects.filter(used=False, uploaded_at__lt=now - dt.timedelta(hours=UNUSED_UPLOAD_HOURS)))
    removed = 0
    for upload in stale:
        deleted, _ = UploadedAttachment.objects.filter(pk=upload.pk, used=False).delete()
        if deleted:
            upload.file.delete(save=False)
            removed += 1
    return removed


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
