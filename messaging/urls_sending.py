"""URLs of the sending pages (included at "envois/", namespace "sending") and of the gateway
webhooks (included at "webhooks/", namespace "webhooks")."""

from django.urls import include, path

from . import views_replies as replies
from . import views_sending as views
from . import webhooks

sending_patterns = [
    path("patient/<int:patient_pk>/sms/", views.send_sms, name="sms"),
    path("patient/<int:patient_pk>/email/", views.send_email, name="email"),
    path("patient/<int:patient_pk>/apercu/", views.preview, name="preview"),
    path("patient/<int:patient_pk>/historique/", views.patient_history, name="history"),
    path("envoi/<int:pk>/", views.mailing_result, name="result"),
    path("message/<int:pk>/renvoyer/", views.message_resend_view, name="resend"),
    path("message/<int:pk>/envoyer-maintenant/", views.message_send_now_view, name="send-now"),
    path("message/<int:pk>/supprimer/", views.message_delete_view, name="delete"),
    path("message/<int:pk>/imprimer/", views.message_print, name="print"),
    path("courrier/<int:pk>/reimprimer/", views.letter_reprint, name="letter-reprint"),
    path("boite-de-demonstration/", views.demo_inbox, name="demo-inbox"),
    path("boite-de-demonstration/repondre/", replies.demo_reply, name="demo-reply"),
    path("reponses/", replies.replies_index, name="replies"),
    path("reponses/<int:pk>/", replies.reply_detail, name="reply"),
    path("reponses/<int:pk>/traitee/", replies.reply_handled, name="reply-handled"),
    path("reponses/<int:pk>/a-traiter/", replies.reply_unhandled, name="reply-unhandled"),
]

webhook_patterns = [
    # One view per kind of event for every gateway; /webhooks/twilio/status/ and
    # /webhooks/twilio/inbound/ are the addresses practices already gave Twilio.
    path("<slug:gateway>/status/", webhooks.delivery_status, name="status"),
    path("<slug:gateway>/inbound/", webhooks.inbound, name="inbound"),
]

urlpatterns = [
    path("envois/", include((sending_patterns, "sending"))),
    path("webhooks/", include((webhook_patterns, "webhooks"))),
]
