"""Admin of the campaigns, the saved campaign texts and the searches' default templates.

A campaign is created, scheduled, sent and cancelled from its pages (``messaging.campaigns``):
sending goes through the outbox and a scheduled one has a django-q2 schedule that only
``campaign_cancel`` removes. Here campaigns and their recipient lists are read, with a link to
the page that acts on them. Saved texts are plain reusable text: editable.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy

from .admin_outbox import ReadOnlyAdmin
from .models import Campaign, CampaignCheckLine, CampaignRecipient, SavedMessage, SearchDefault


class CampaignRecipientInline(admin.TabularInline):
    model = CampaignRecipient
    fields = ["address", "last_name", "first_name", "patient", "source"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "channel",
        "kind",
        "status",
        "scheduled_at",
        "sent_at",
        "created_by",
        "created_at",
        "page",
    ]
    list_filter = ["status", "channel", "kind"]
    search_fields = ["name", "subject", "body"]
    date_hierarchy = "created_at"
    list_select_related = ["created_by", "mailing"]
    raw_id_fields = ["mailing", "created_by"]
    inlines = [CampaignRecipientInline]
    exclude = ["check_version", "check_summary"]  # the stored check's internals (CampaignCheckLine)

    @admin.display(description=gettext_lazy("page"))
    def page(self, obj: Campaign) -> str:
        return format_html('<a href="{}">{}</a>', reverse("campaigns:detail", args=[obj.pk]),
                           gettext_lazy("Ouvrir la campagne"))

    def has_delete_permission(self, request, obj=None):
        # Deleting would leave a scheduled campaign's django-q2 schedule behind and erase the
        # record of a sent one: campaigns are cancelled from their page.
        return False


@admin.register(CampaignRecipient)
class CampaignRecipientAdmin(ReadOnlyAdmin):
    list_display = ["address", "last_name", "first_name", "campaign", "source", "patient"]
    list_filter = ["source", "campaign__channel"]
    search_fields = ["address", "last_name", "campaign__name"]
    list_select_related = ["campaign", "patient"]
    raw_id_fields = ["campaign", "patient"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CampaignCheckLine)
class CampaignCheckLineAdmin(ReadOnlyAdmin):
    """The stored check of campaigns not sent yet (merged once per version of the campaign,
    removed once it is sent or cancelled)."""

    list_display = ["campaign", "position"]
    list_select_related = ["campaign"]
    raw_id_fields = ["campaign"]


@admin.register(SavedMessage)
class SavedMessageAdmin(admin.ModelAdmin):
    list_display = ["name", "channel", "subject", "created_by", "created_at"]
    list_filter = ["channel"]
    search_fields = ["name", "subject", "body"]
    list_select_related = ["created_by"]
    readonly_fields = ["created_by", "created_at"]
    fields = ["name", "channel", "subject", "body", "created_by", "created_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(SearchDefault)
class SearchDefaultAdmin(ReadOnlyAdmin):
    """Remembered by the mass-mailing pages; deleting one only forgets the suggestion."""

    list_display = ["search", "channel", "sms_template", "email_template", "updated_at"]
    list_filter = ["channel", "search"]
    list_select_related = ["sms_template", "email_template"]
