"""Admin of the outbox: mailings, messages, received SMS and the demo inboxes. Read-only views of
what happened; sending and re-sending go through the pages (one path: messaging.outbox)."""

from __future__ import annotations

from django.contrib import admin

from .models import InboundMessage, Mailing, Message, SandboxEmail, SandboxSms


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["recipient_role", "recipient_name", "to", "status", "reason", "provider_id", "sent_at"]
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
    list_display = ["created_at", "channel", "recipient_name", "to", "status", "reason", "attempts", "sent_at"]
    list_filter = ["status", "channel", "mailing__origin"]
    search_fields = ["to", "recipient_name", "provider_id", "patient__last_name"]
    date_hierarchy = "created_at"
    raw_id_fields = ["patient", "appointment", "mailing"]


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "from_number", "patient", "is_stop", "body"]
    list_filter = ["is_stop"]
    search_fields = ["from_number", "body"]


@admin.register(SandboxSms)
class SandboxSmsAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "to", "sender", "body"]
    search_fields = ["to", "body"]


@admin.register(SandboxEmail)
class SandboxEmailAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "to", "subject"]
    search_fields = ["to", "subject"]
