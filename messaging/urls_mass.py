"""Mass mailing pages (included at "publipostage/", namespace "mass") and campaign pages
(included at "campagnes/", namespace "campaigns")."""

from django.urls import include, path

from . import views_campaigns, views_mass

mass_patterns = [
    path("", views_mass.mailing_list, name="list"),
    path("nouveau/", views_mass.start, name="start"),
    path("<str:key>/message/", views_mass.message, name="message"),
    path("<str:key>/destinataires/", views_mass.recipients, name="recipients"),
    path("<str:key>/envoyer/", views_mass.send, name="send"),
    path("<str:key>/courriers.pdf", views_mass.letters, name="letters"),
    path("envoi/<int:pk>/", views_mass.detail, name="detail"),
    path("envoi/<int:pk>/etat.json", views_mass.status, name="status"),
    path("envoi/<int:pk>/renvoyer-les-echecs/", views_mass.retry, name="retry"),
    path("envoi/<int:pk>/renvoyer-les-incertains/", views_mass.retry_unknown, name="retry-unknown"),
]

campaign_patterns = [
    path("", views_campaigns.campaign_list, name="list"),
    path("nouvelle/", views_campaigns.campaign_create, name="create"),
    path("<int:pk>/", views_campaigns.campaign_detail, name="detail"),
    path("<int:pk>/annuler/", views_campaigns.campaign_cancel, name="cancel"),
    path("messages-enregistres/<int:pk>/supprimer/", views_campaigns.saved_message_delete, name="saved-delete"),
]

urlpatterns = [
    path("publipostage/", include((mass_patterns, "mass"))),
    path("campagnes/", include((campaign_patterns, "campaigns"))),
]
