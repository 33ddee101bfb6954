"""Forms of the settings pages (and of the admin, which reuses the cleaning rules).

Two rules hold whatever page a template is saved from: merge codes are checked against the
catalog (an unknown code is refused with the nearest known one), and formatted HTML is cleaned
with the allow-list of ``messaging.html`` before it is stored.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from patients.models import ImageSubtype, ImageType
from patients.templatetags.fr_format import heure
from practice.crypto import UNREADABLE_MESSAGE
from practice.models import Practice
from practice.uploads import ATTACHMENT_EXTENSIONS, validate_attachment

from . import html as html_tools
from . import merge
from .editor import RichTextEditor
from .models import (
    AttachmentRule,
    EmailAccount,
    EmailTemplate,
    ExternalFile,
    FreeField,
    ImagePick,
    ParticularField,
    Purpose,
    Signature,
    SignaturePlacement,
    SmsTemplate,
    TemplateCategory,
)
from .providers import app_password_error, provider_choices, provider_for_host
from .sms import too_long_message as sms_too_long


def rich_text_widget(height: int = 360) -> RichTextEditor:
    """The rich-text editor of formatted bodies (messaging.editor): it offers only the formatting
    the HTML allow-list keeps, so staff do not format text that the cleaning would then drop."""
    return RichTextEditor(height=height)


def validate_merge(text: str) -> str:
    """``text`` unchanged, or a French ValidationError naming each unknown code."""
    merge.validate_merge_text(text)
    return text


class CategoryForm(forms.ModelForm):
    class Meta:
        model = TemplateCategory
        fields = ["name", "position", "purpose"]
        help_texts = {"position": _("Les catégories sont classées par ordre croissant, puis par nom.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["purpose"].required = False  # "Autre" when not given

    def clean_purpose(self):
        return self.cleaned_data.get("purpose") or Purpose.OTHER


class SmsTemplateForm(forms.ModelForm):
    class Meta:
        model = SmsTemplate
        fields = ["category", "title", "body", "asks_reply", "active"]
        widgets = {
            "body": forms.Textarea(attrs={"rows": 7, "class": "form-control merge-target sms-body", "spellcheck": "true"}),
        }
        labels = {"body": _("Texte du message"), "asks_reply": _("Demander une réponse (OUI pour confirmer, NON pour annuler)")}

    def clean_body(self):
        # Browsers submit textarea line breaks as CRLF but count them as one character: store LF,
        # the single character an SMS line break is, so the live counter and the server agree.
        body = self.cleaned_data["body"].replace("\r\n", "\n").replace("\r", "\n")
        too_long = sms_too_long(body)
        if too_long:
            raise forms.ValidationError(too_long)
        return validate_merge(body)


class PracticeSmsForm(forms.ModelForm):
    class Meta:
        model = Practice
        fields = [
            "sms_sender_name",
            "sms_warn_over_160",
            "sms_default_patient",
            "sms_default_civil_guardian",
            "sms_default_financial_guardian",
            "quiet_start",
            "quiet_end",
            "purpose_period_days",
            "sms_gsm_names",
            "sms_reply_ack",
        ]
        labels = {
            "sms_reply_ack": _("Répondre « Merci, votre RDV du 07/12 à 10h10 est confirmé. » à une confirmation"),
            "sms_gsm_names": _("Remplacer les lettres accentuées hors GSM-7 dans les noms"),
            "sms_warn_over_160": _("Avertir quand un SMS dépasse 160 caractères (il partira en plusieurs SMS)"),
            "sms_default_patient": _("Patient"),
            "sms_default_civil_guardian": _("Responsable civil"),
            "sms_default_financial_guardian": _("Responsable financier"),
            "quiet_start": _("Pas de SMS à partir de"),
            "quiet_end": _("jusqu'à"),
            "purpose_period_days": _("Délai (jours)"),
        }
        widgets = {
            "quiet_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "quiet_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }
        error_messages = {
            "quiet_start": {"required": _("Indiquez l'heure de début des heures de silence."),
                            "invalid": _("Heure invalide (par exemple 20:00).")},
            "quiet_end": {"required": _("Indiquez l'heure de fin des heures de silence."),
                          "invalid": _("Heure invalide (par exemple 08:00).")},
            "purpose_period_days": {"invalid": _("Indiquez un nombre de jours."),
                                    "min_value": _("Le délai est d'au moins 1 jour."),
                                    "max_value": _("Le délai est de 60 jours au plus.")},
        }

    # The price of one SMS part with the configured gateway (Practice.sms_prices keeps one per
    # gateway); empty: no estimate in euros, the SMS counts only.
    sms_price = forms.DecimalField(
        label=_("Prix d'une partie de SMS (€ TTC)"), required=False, min_value=0, max_value=10,
        max_digits=7, decimal_places=4, localize=True,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "0,0725"}),
        error_messages={"invalid": _("Indiquez un prix en euros, par exemple 0,0725."),
                        "min_value": _("Le prix ne peut pas être négatif."),
                        "max_value": _("Le prix d'une partie de SMS ne dépasse pas 10 €."),
                        "max_decimal_places": _("Au plus 4 décimales (par exemple 0,0725)."),
                        "max_digits": _("Au plus 4 décimales (par exemple 0,0725).")},
    )

    # The gateways whose reply sender the page sets (each says how in ``reply_sender_help``),
    # the configured one first when it needs one too.
    REPLY_GATEWAYS = ("twilio", "ovh")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["purpose_period_days"].required = False  # left empty: the period stays as it is
        from .cost import gateway_name, price_per_part
        from .gateways import gateway_class

        self.gateway = gateway_name()
        price = price_per_part(self.instance, self.gateway)
        if price is not None:
            self.initial.setdefault("sms_price", price)
        names = [self.gateway] if self.gateway and self.gateway not in self.REPLY_GATEWAYS else []
        self.reply_gateways = {}
        senders = self.instance.sms_reply_senders or {}
        for name in [*names, *self.REPLY_GATEWAYS]:
            backend = gateway_class(name)
            if backend is None or not backend.reply_sender_help:
                continue
            self.reply_gateways[name] = backend
            field_name = f"reply_{name}"
            self.fields[field_name] = forms.CharField(
                label=_("Numéro de réponse %(gateway)s") % {"gateway": name.upper() if name == "ovh" else name.capitalize()}
                      + (" (passerelle actuelle)" if name == self.gateway else ""),
                required=False, max_length=40, help_text=backend.reply_sender_help,
            )
            self.initial.setdefault(field_name, senders.get(name, ""))

    @property
    def reply_fields(self):
        return [self[f"reply_{name}"] for name in self.reply_gateways]

    @property
    def reply_missing(self) -> bool:
        """The configured gateway needs a reply number and has none: patients cannot answer."""
        return self.gateway in self.reply_gateways and not (self.instance.sms_reply_senders or {}).get(self.gateway)

    def clean(self):
        cleaned = super().clean()
        for name, backend in self.reply_gateways.items():
            field_name = f"reply_{name}"
            if field_name not in cleaned:
                continue
            try:
                cleaned[field_name] = backend.clean_reply_sender(cleaned[field_name])
            except ValueError as exc:
                self.add_error(field_name, str(exc))
        return cleaned

    def save(self, commit=True):
        senders = dict(self.instance.sms_reply_senders or {})
        for name in self.reply_gateways:
            value = self.cleaned_data.get(f"reply_{name}") or ""
            if value:
                senders[name] = value
            else:
                senders.pop(name, None)
        self.instance.sms_reply_senders = senders
        prices = dict(self.instance.sms_prices or {})
        price = self.cleaned_data.get("sms_price")
        if price is None:
            prices.pop(self.gateway, None)
        else:
            prices[self.gateway] = str(price)
        self.instance.sms_prices = prices
        return super().save(commit=commit)

    def clean_purpose_period_days(self):
        value = self.cleaned_data.get("purpose_period_days")
        return value if value is not None else self.instance.purpose_period_days

    @property
    def quiet_help(self) -> str:
        """The rule in words, with the hours as saved (the dispatch applies those)."""
        start, end = self.instance.quiet_start, self.instance.quiet_end
        if start == end:
            return _("Pas d'heures de silence : les SMS partent à toute heure (deux heures identiques).")
        return _(
            "Aucun SMS ne part entre %(start)s et %(end)s (heure du cabinet) ; "
            "les messages attendent l'ouverture. Deux heures identiques : pas d'heures de silence."
        ) % {"start": heure(start), "end": heure(end)}


class EmailAccountForm(forms.ModelForm):
    """The stored password is never sent back to the browser: the field starts empty, an empty
    value keeps the current password, "clear_password" removes it."""

    provider = forms.ChoiceField(
        label=_("Fournisseur"),
        choices=provider_choices,
        required=False,
        help_text=_("Remplit le serveur, le port et la sécurité avec les réglages connus du fournisseur."),
    )
    new_password = forms.CharField(
        label=_("Mot de passe"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_password = forms.BooleanField(label=_("Effacer le mot de passe enregistré"), required=False)

    class Meta:
        model = EmailAccount
        fields = [
            "name",
            "email",
            "display_name",
            "default_signature",
            "provider",
            "smtp_host",
            "smtp_port",
            "security",
            "timeout",
            "username",
            "new_password",
            "clear_password",
            "hourly_limit",
            "daily_limit",
            "active",
        ]
        widgets = {"username": forms.TextInput(attrs={"autocomplete": "off"})}
        help_texts = {"username": _("Souvent l'adresse email complète. Vide : pas d'authentification.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        has_password = bool(self.instance.pk and self.instance.password)
        if self.instance.pk and self.instance.password_unreadable:
            # Kept as it is on save (never emptied) until a new one is typed or it is cleared.
            unreadable = gettext(UNREADABLE_MESSAGE)
            self.fields["new_password"].help_text = _(
                "%(unreadable)s. Le mot de passe enregistré a été chiffré avec une clé qui n'est plus configurée : "
                "aucun email ne part de ce compte tant qu'il n'est pas ressaisi."
            ) % {"unreadable": unreadable[:1].upper() + unreadable[1:]}
            self.fields["new_password"].widget.attrs["placeholder"] = _("mot de passe illisible")
        elif has_password:
            self.fields["new_password"].help_text = _(
                "Un mot de passe est enregistré (il n'est jamais affiché). Laissez vide pour le conserver."
            )
            self.fields["new_password"].widget.attrs["placeholder"] = _("•••••••• (inchangé)")
        else:
            self.fields["new_password"].help_text = _("Aucun mot de passe enregistré.")
            del self.fields["clear_password"]
        self.fields["default_signature"].empty_label = _("Aucune")
        # Gmail, Outlook: say before the first try that the usual password will be refused.
        host = self.data.get("smtp_host", "") if self.is_bound else self.instance.smtp_host
        provider = provider_for_host(host)
        self.app_password_note = provider.app_password if provider else ""

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("clear_password") and cleaned.get("new_password"):
            self.add_error("clear_password", _("Saisissez un nouveau mot de passe ou effacez-le, pas les deux."))
        if cleaned.get("new_password"):
            password, error = app_password_error(cleaned.get("smtp_host") or "", cleaned["new_password"])
            if error:
                self.add_error("new_password", error)
            else:
                cleaned["new_password"] = password
        return cleaned


class SignatureForm(forms.ModelForm):
    class Meta:
        model = Signature
        fields = ["label", "placement", "body_html"]
        widgets = {"placement": forms.RadioSelect, "body_html": rich_text_widget(height=260)}
        labels = {"placement": _("Position dans l'email"), "body_html": _("Contenu")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["placement"].choices = [
            (SignaturePlacement.FOOTER, _("Après le message : signature en bas de l'email")),
            (SignaturePlacement.HEADER, _("Avant le message : en-tête en haut de l'email")),
        ]

    def clean_body_html(self):
        cleaned = html_tools.clean_editor_html(self.cleaned_data["body_html"])
        if not html_tools.html_to_text(cleaned).strip() and "<img" not in cleaned:
            raise ValidationError(_("La signature est vide."))
        validate_merge(html_tools.merge_texts(cleaned))
        return cleaned


class EmailTemplateForm(forms.ModelForm):
    class Meta:
        model = EmailTemplate
        fields = [
            "category",
            "label",
            "account",
            "signature",
            "recipient_role",
            "subject",
            "body_html",
            "save_sent",
            "keep_attachments",
            "read_receipt",
            "confirm_before_send",
            "active",
        ]
        widgets = {
            "subject": forms.TextInput(attrs={"class": "form-control merge-target"}),
            "body_html": rich_text_widget(),
        }
        help_texts = {"label": _("Visible uniquement par le cabinet, pour retrouver l'email type.")}
        labels = {"subject": _("Objet"), "body_html": _("Message")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Inactive accounts are not offered, except the one this type already uses.
        self.fields["account"].queryset = EmailAccount.objects.filter(
            Q(active=True) | Q(pk=getattr(self.instance, "account_id", None))
        )
        self.fields["signature"].empty_label = _("Aucune signature")

    def clean_subject(self):
        return validate_merge(self.cleaned_data["subject"])

    def clean_body_html(self):
        cleaned = html_tools.clean_editor_html(self.cleaned_data["body_html"])
        if not html_tools.html_to_text(cleaned).strip():
            raise ValidationError(_("Le message est vide."))
        validate_merge(html_tools.merge_texts(cleaned))
        return cleaned

    def save(self, commit=True):
        template = super().save(commit=False)
        # The plain-text alternative is always derived from the stored (cleaned) HTML.
        template.body_text = html_tools.html_to_text(template.body_html)
        if commit:
            template.save()
        return template


class ImageAttachmentForm(forms.ModelForm):
    class Meta:
        model = AttachmentRule
        fields = ["image_pick", "image_type", "image_subtype"]
        labels = {"image_pick": _("Quelle image"), "image_type": _("Type d'image"), "image_subtype": _("Sous-type")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["image_pick"] = forms.ChoiceField(
            label=_("Quelle image"), choices=ImagePick.choices, initial=ImagePick.MOST_RECENT
        )
        self.fields["image_type"] = forms.ChoiceField(label=_("Type d'image"), choices=ImageType.choices)
        self.fields["image_subtype"] = forms.ChoiceField(
            label=_("Sous-type"), choices=[("", _("Tous les sous-types"))] + ImageSubtype.choices[1:], required=False
        )


class FileAttachmentForm(forms.Form):
    """An external file: one already uploaded, or a new upload (kept for reuse by other types)."""

    existing = forms.ModelChoiceField(
        label=_("Fichier déjà envoyé"),
        queryset=ExternalFile.objects.all(),
        required=False,
        empty_label=_("— Nouveau fichier —"),
    )
    label = forms.CharField(label=_("Libellé du nouveau fichier"), max_length=120, required=False)
    file = forms.FileField(
        label=_("Nouveau fichier"),
        required=False,
        validators=[validate_attachment],
        help_text=_("PDF, image (JPEG, PNG, GIF, WebP), document Word, Excel, PowerPoint ou LibreOffice, texte."),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(f".{e}" for e in sorted(ATTACHMENT_EXTENSIONS))}),
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("existing") and cleaned.get("file"):
            raise ValidationError(_("Choisissez un fichier déjà envoyé ou envoyez-en un nouveau, pas les deux."))
        if not cleaned.get("existing") and not cleaned.get("file"):
            raise ValidationError(_("Choisissez un fichier déjà envoyé ou envoyez-en un nouveau."))
        if cleaned.get("file") and not cleaned.get("label"):
            cleaned["label"] = cleaned["file"].name
        return cleaned


class ParticularFieldForm(forms.ModelForm):
    class Meta:
        model = ParticularField
        fields = ["label", "girl", "boy", "woman", "man"]
        labels = {
            "girl": _("Enfant (fille)"),
            "boy": _("Enfant (garçon)"),
            "woman": _("Adulte (femme)"),
            "man": _("Adulte (homme)"),
        }


class FreeFieldForm(forms.ModelForm):
    class Meta:
        model = FreeField
        fields = ["label", "ami", "amie", "confrere", "consoeur"]
        labels = {"ami": _("Ami"), "amie": _("Amie"), "confrere": _("Confrère"), "consoeur": _("Consœur")}
