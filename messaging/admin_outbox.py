"""Admin of the outbox: mailings, messages, printed letters, received SMS, the gateways' kept delivery reports and
checks, and the demo inboxes. Read-only views of what happened; sending and re-sending go through
the pages (one path: messaging.outbox)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import (
    CoveredAppointment,
    GatewayCheck,
    InboundMessage,
    Mailing,
    MailingDraft,
    MailingDraftLine,
    Message,
    PendingDeliveryEvent,
    PrintedLetter,
    SandboxEmail,
    SandboxSms,
    UploadedAttachment,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.display(description=_("raison"), ordering="reason")
def reason_text(obj) -> str:
    """The stored reason in the reader's language (messaging.reasons)."""
    return obj.reason_shown


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["recipient_role", "recipient_name", "to", "status", reason_text, "provider_id", "sent_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Mailing)
class MailingAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "channel", "origin", "requested_by", "created_at"]
    list_filter = ["channel", "origin"]
    date_hierarchy = "created_at"
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "channel", "recipient_name", "to", "status", reason_text, "attempts", "sent_at"]
    list_filter = ["status", "channel", "mailing__origin"]
    search_fields = ["to", "recipient_name", "provider_id", "patient__last_name"]
    date_hierarchy = "created_at"
    raw_id_fields = ["patient", "appointment", "mailing"]


@admin.register(CoveredAppointment)
class CoveredAppointmentAdmin(ReadOnlyAdmin):
    """The appointments of one SMS sent to a family's number (a treatment's grouping option)."""

    list_display = ["message", "appointment", "appointment_start"]
    raw_id_fields = ["message", "appointment"]


@admin.register(PrintedLetter)
class PrintedLetterAdmin(ReadOnlyAdmin):
    list_display = ["printed_at", "origin", "origin_label", "recipient_name", "template_name", "letter_date", "printed_by"]
    list_filter = ["origin"]
    search_fields = ["recipient_name", "patient__last_name", "origin_label"]
    date_hierarchy = "printed_at"
    raw_id_fields = ["patient"]


@admin.register(UploadedAttachment)
class UploadedAttachmentAdmin(ReadOnlyAdmin):
    """Files attached once from the send window: read-only like the messages that carry them."""

    list_display = ["uploaded_at", "filename", "size", "patient", "uploaded_by", "used"]
    list_filter = ["used"]
    search_fields = ["filename", "patient__last_name"]
    date_hierarchy = "uploaded_at"
    raw_id_fields = ["patient"]


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "from_number", "patient", "kind", "handled_automatically", "body", "handled_at",
                    "handled_by"]
    list_filter = ["kind", "handled_automatically", "is_stop", ("handled_at", admin.EmptyFieldListFilter)]
    search_fields = ["from_number", "body"]
    raw_id_fields = ["patient", "answers"]


@admin.register(PendingDeliveryEvent)
class PendingDeliveryEventAdmin(ReadOnlyAdmin):
    """Delivery reports waiting for their message (applied, then deleted, when it is recorded)."""

    list_display = ["received_at", "gateway", "provider_id", "status", "reason"]
    list_filter = ["gateway", "status"]
    search_fields = ["provider_id"]


@admin.register(GatewayCheck)
class GatewayCheckAdmin(ReadOnlyAdmin):
    """The one lookup of each "incertain" SMS at its gateway (messaging.reconcile)."""

    list_display = ["checked_at", "message", "gateway", "outcome", "provider_id"]
    list_filter = ["gateway", "outcome"]
    raw_id_fields = ["message"]


@admin.register(SandboxSms)
class SandboxSmsAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "to", "sender", "body"]
    search_fields = ["to", "body"]


@admin.register(SandboxEmail)
class SandboxEmailAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "to", "subject"]
    search_fields = ["to", "subject"]


@admin.register(MailingDraft)
class MailingDraftAdmin(ReadOnlyAdmin):
    """Mass-mailing wizards in progress (purged a week after their last change)."""

    list_display = ["updated_at", "user", "key", "revision", "preview_revision", "preview_lines"]
    list_select_related = ["user"]
    exclude = ["data", "preview_summary"]


@admin.register(MailingDraftLine)
class MailingDraftLineAdmin(ReadOnlyAdmin):
    list_display = ["draft", "position"]
    raw_id_fields = ["draft"]
