"""Django admin for the template side of messaging. The outbox models (Mailing, Message,
InboundMessage, SandboxSms) are registered by the sending side.

The admin forms reuse the settings pages' rules: merge codes are validated, HTML is cleaned, the
plain-text alternative is derived, and an account's password is never displayed.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext, gettext_lazy

from practice.crypto import UNREADABLE_MESSAGE

from . import services
from .editor import AdminRichTextEditor
from .forms import EmailAccountForm, EmailTemplateForm, SignatureForm, SmsTemplateForm
from .models import (
    AttachmentRule,
    EmailAccount,
    EmailTemplate,
    ExternalFile,
    FreeField,
    ParticularField,
    Signature,
    SmsTemplate,
    TemplateCategory,
)


@admin.register(TemplateCategory)
class TemplateCategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "position"]
    list_editable = ["position"]
    search_fields = ["name"]


@admin.register(SmsTemplate)
class SmsTemplateAdmin(admin.ModelAdmin):
    form = SmsTemplateForm
    list_display = ["title", "category", "active", "updated_at"]
    list_filter = ["category", "active"]
    search_fields = ["title", "body"]
    list_select_related = ["category"]


class AdminSignatureForm(SignatureForm):
    class Meta(SignatureForm.Meta):
        widgets = {"placement": forms.RadioSelect, "body_html": AdminRichTextEditor(height=260)}


@admin.register(Signature)
class SignatureAdmin(admin.ModelAdmin):
    form = AdminSignatureForm
    list_display = ["label", "placement"]
    list_filter = ["placement"]
    search_fields = ["label", "body_html"]


class AdminEmailAccountForm(EmailAccountForm):
    """The settings page's form without the provider helper (it needs the page's script)."""

    class Meta(EmailAccountForm.Meta):
        fields = [f for f in EmailAccountForm.Meta.fields if f != "provider"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.pop("provider", None)


@admin.register(EmailAccount)
class EmailAccountAdmin(admin.ModelAdmin):
    form = AdminEmailAccountForm
    list_display = ["name", "email", "smtp_host", "smtp_port", "security", "password_state", "active", "last_test_ok",
                    "last_test_at"]
    list_filter = ["security", "active", "last_test_ok"]
    search_fields = ["name", "email", "smtp_host", "username"]
    readonly_fields = ["last_test_at", "last_test_ok", "last_test_message"]
    actions = ["test_accounts"]

    def get_fields(self, request, obj=None):
        # "clear_password" only exists on the form when a password is stored.
        fields = [f for f in self.form.Meta.fields if f != "clear_password"]
        return [*fields, *(["clear_password"] if obj and obj.password else []), *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        services.email_account_save(form=form)

    @admin.display(description=gettext_lazy("mot de passe"))
    def password_state(self, obj) -> str:
        if obj.password_unreadable:
            return gettext(UNREADABLE_MESSAGE)
        return gettext("enregistré") if obj.password else gettext("aucun")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        if obj is not None and obj.password_unreadable and request.method == "GET":
            self.message_user(request, obj.password_unreadable_message, level="ERROR")
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description=gettext_lazy("Tester les comptes sélectionnés (envoi d'un email de test)"))
    def test_accounts(self, request, queryset):
        for account in queryset:
            result = services.email_account_test(account=account)
            self.message_user(request, f"{account} : {result.message}", level="SUCCESS" if result.ok else "ERROR")


class AttachmentRuleInline(admin.TabularInline):
    model = AttachmentRule
    extra = 0
    autocomplete_fields = ["external_file"]


class AdminEmailTemplateForm(EmailTemplateForm):
    class Meta(EmailTemplateForm.Meta):
        widgets = {**EmailTemplateForm.Meta.widgets, "body_html": AdminRichTextEditor()}


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    form = AdminEmailTemplateForm
    list_display = ["label", "category", "account", "recipient_role", "active", "updated_at"]
    list_filter = ["category", "account", "recipient_role", "active"]
    search_fields = ["label", "subject", "body_text"]
    list_select_related = ["category", "account"]
    inlines = [AttachmentRuleInline]


@admin.register(ExternalFile)
class ExternalFileAdmin(admin.ModelAdmin):
    list_display = ["label", "file", "uploaded_at"]
    search_fields = ["label"]


class CustomFieldAdmin(admin.ModelAdmin):
    """A new field left without a number gets the next free one; an existing field keeps a
    number (templates use its code), so emptying it is refused with a message."""

    list_display = ["code", "label"]
    search_fields = ["label"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        number = form.base_fields["number"]
        if obj is None:
            number.required = False
            number.help_text = gettext_lazy("Laisser vide : le prochain numéro libre.")
        else:
            number.required = True
            number.error_messages["required"] = gettext_lazy(
                "Indiquez un numéro de 1 à 99 : les modèles qui utilisent ce champ le désignent par son numéro."
            )
        return form

    def save_model(self, request, obj, form, change):
        if obj.number:
            obj.save()
        else:
            services.custom_field_create(field=obj)


@admin.register(ParticularField)
class ParticularFieldAdmin(CustomFieldAdmin):
    list_display = ["code", "label", "girl", "boy", "woman", "man"]


@admin.register(FreeField)
class FreeFieldAdmin(CustomFieldAdmin):
    list_display = ["code", "label", "ami", "amie", "confrere", "consoeur"]
