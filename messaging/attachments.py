"""The attachments of an email type, resolved for one patient at send (or preview) time.

A patient-image rule names a type (panoramique...), an optional sub-type (face...) and which image
to take when the album holds several:

- FIRST: the earliest taken (``taken_on``, then upload order);
- LAST: the latest stage of treatment (initial < in progress < follow-up < final), the latest
  taken within that stage;
- MOST_RECENT: the latest taken, whatever its stage.

An external file is attached as it is. A rule that finds nothing (no such image, file missing on
disk) attaches nothing and adds a warning the preview and the send log show.
"""

from __future__ import annotations

import mimetypes
import os
from dataclasses import dataclass

from django.db.models import Case, IntegerField, Value, When

from patients.models import ImageStage, ImageSubtype, ImageType, Patient, PatientImage

from .models import AttachmentRule, EmailTemplate, ImagePick

SOURCE_PATIENT_IMAGE = "patient_image"
SOURCE_EXTERNAL_FILE = "external_file"

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
