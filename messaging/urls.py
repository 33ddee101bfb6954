from django.urls import path

from . import views_settings as v

app_name = "messaging"

urlpatterns = [
    path("parametrage/", v.settings_index, name="settings"),
    path("parametrage/champs-integration/", v.merge_fields, name="merge_fields"),
    path("parametrage/categories/", v.categories, name="categories"),
    path("parametrage/categories/<int:pk>/", v.category_edit, name="category_edit"),
    path("parametrage/categories/<int:pk>/supprimer/", v.category_delete, name="category_delete"),
    path("parametrage/sms/", v.sms_list, name="sms_list"),
    path("parametrage/sms/nouveau/", v.sms_edit, name="sms_create"),
    path("parametrage/sms/<int:pk>/", v.sms_edit, name="sms_edit"),
    path("parametrage/sms/<int:pk>/supprimer/", v.sms_delete, name="sms_delete"),
    path("parametrage/sms/<int:pk>/apercu/", v.sms_preview, name="sms_preview"),
    path("parametrage/sms/gsm7/", v.sms_to_gsm, name="sms_to_gsm"),
    path("parametrage/sms/reglages/", v.sms_settings, name="sms_settings"),
    path("parametrage/comptes/", v.accounts, name="accounts"),
    path("parametrage/comptes/nouveau/", v.account_edit, name="account_create"),
    path("parametrage/comptes/<int:pk>/", v.account_edit, name="account_edit"),
    path("parametrage/comptes/<int:pk>/tester/", v.account_test, name="account_test"),
    path("parametrage/comptes/<int:pk>/supprimer/", v.account_delete, name="account_delete"),
    path("parametrage/signatures/", v.signatures, name="signatures"),
    path("parametrage/signatures/nouvelle/", v.signature_edit, name="signature_create"),
    path("parametrage/signatures/<int:pk>/", v.signature_edit, name="signature_edit"),
    path("parametrage/signatures/<int:pk>/supprimer/", v.signature_delete, name="signature_delete"),
    path("parametrage/emails/", v.email_list, name="email_list"),
    path("parametrage/emails/nouveau/", v.email_edit, name="email_create"),
    path("parametrage/emails/<int:pk>/", v.email_edit, name="email_edit"),
    path("parametrage/emails/<int:pk>/supprimer/", v.email_delete, name="email_delete"),
    path("parametrage/emails/<int:pk>/apercu/", v.email_preview, name="email_preview"),
    path("parametrage/emails/<int:pk>/pieces-jointes/image/", v.attachment_add_image, name="attachment_add_image"),
    path("parametrage/emails/<int:pk>/pieces-jointes/fichier/", v.attachment_add_file, name="attachment_add_file"),
    path("parametrage/emails/<int:pk>/pieces-jointes/<int:rule_pk>/retirer/", v.attachment_delete,
         name="attachment_delete"),
    path("parametrage/champs/", v.custom_fields, name="custom_fields"),
    path("parametrage/champs/<str:kind>/nouveau/", v.custom_field_edit, name="custom_field_create"),
    path("parametrage/champs/<str:kind>/<int:pk>/", v.custom_field_edit, name="custom_field_edit"),
    path("parametrage/champs/<str:kind>/<int:pk>/supprimer/", v.custom_field_delete, name="custom_field_delete"),
]
