"""Patients' replies as staff meet them, in headless Chromium: a patient answers from the demo
inbox ("Répondre en tant que patient", the webhooks' path), the reply waits in "Réponses" with
its count in the menu, staff answer it (the outbox, the SMS counter) and mark it handled."""

import pytest
from playwright.sync_api import expect

from messaging.models import InboundMessage, MailingOrigin, Message, MessageStatus, SandboxSms
from tests.e2e.test_sending import demo_practice  # noqa: F401
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_demo_reply_is_answered_from_the_replies_page_then_marked_handled(login, live_server,
                                                                           demo_practice):  # noqa: F811
    from practice.models import Practice
    from tests.e2e.conftest import screenshot

    patient, _ = demo_practice
    practice = Practice.get()
    practice.sms_prices = {"sandbox": "0.0725"}
    practice.save()
    julie = UserFactory(username="julie", first_name="Julie", last_name="Martin", role="Assistant(e)")
    page = login(julie)
    # The practice writes to the patient first (the demo inbox shows numbers that received SMS).
    page.goto(f"{live_server.url}/envois/patient/{patient.pk}/sms/")
    page.locator("#id_body").fill("Bonjour, votre devis est prêt.")
    page.get_by_role("button", name="Envoyer").click()
    expect(page.locator("#result")).to_contain_text("Envoyé")
    expect(page.locator("#replies-menu")).to_have_text("Réponses")  # nothing to handle yet

    # The patient answers from the demo inbox.
    page.goto(f"{live_server.url}/envois/boite-de-demonstration/")
    page.get_by_label("Répondre en tant que patient").fill("Puis-je passer le chercher jeudi ?")
    page.get_by_role("button", name="Envoyer").click()
    expect(page.get_by_text("Réponse reçue par le cabinet")).to_be_visible()
    expect(page.locator(".demo-patient-reply")).to_contain_text("Puis-je passer le chercher jeudi ?")
    expect(page.locator("#replies-menu")).to_contain_text("1")
    screenshot(page, "demo-inbox-reply")
    inbound = InboundMessage.objects.get()
    assert inbound.provider_id.startswith("demo-") and inbound.patient == patient

    # It waits in "Réponses", with who wrote it and the SMS it follows.
    page.locator("#replies-menu").click()
    row = page.locator(f"tr[data-reply='{inbound.pk}']")
    expect(row).to_contain_text("ABLIRANT Emma")
    expect(row).to_contain_text("Puis-je passer le chercher jeudi ?")
    expect(row).to_contain_text("Bonjour, votre devis est prêt.")
    expect(row).to_contain_text("À traiter")
    screenshot(page, "replies-list")

    # Answer it: the send window's counter, the outbox, the demo phone.
    row.get_by_role("link", name="Répondre").click()
    page.wait_for_load_state()
    page.get_by_label("Votre réponse").fill("Oui, à partir de 14h00.")
    expect(page.locator("#sms-counter")).to_contain_text("1 SMS")
    expect(page.locator("#sms-counter")).to_contain_text("0,07\u00a0€ par destinataire")
    page.get_by_label("Marquer cette réponse comme traitée").uncheck()
    page.get_by_role("button", name="Envoyer la réponse").click()
    expect(page.get_by_text("Réponse enregistrée pour ABLIRANT Emma")).to_be_visible()
    expect(page.locator("#conversation")).to_contain_text("Oui, à partir de 14h00.")
    answer = Message.objects.get(mailing__origin=MailingOrigin.ANSWER)
    assert (answer.to, answer.status, answer.mailing.requested_by) == ("+33684285560", MessageStatus.SENT, julie)
    assert SandboxSms.objects.filter(to="+33684285560", body="Oui, à partir de 14h00.").count() == 1
    expect(page.locator("#reply-state")).to_contain_text("À traiter")
    screenshot(page, "reply-detail")

    # Mark it handled: who and when, out of the list and of the menu's count; undo is there.
    page.locator("#reply-state").get_by_role("button", name="Marquer traitée").click()
    expect(page.locator("#reply-state")).to_contain_text("par Julie Martin")
    expect(page.locator("#replies-menu")).to_have_text("Réponses")
    page.locator("#replies-menu").click()
    expect(page.locator("#replies-table")).to_contain_text("Aucune réponse à traiter")
    page.get_by_label("Afficher").select_option(label="Toutes")
    page.get_by_role("button", name="Filtrer").click()
    expect(page.locator(f"tr[data-reply='{inbound.pk}']")).to_contain_text("Traitée")
    page.get_by_role("button", name="Remettre à traiter").click()
    expect(page.locator("#replies-menu")).to_contain_text("1")

    # The journal shows the reply, marked as received, beside what was sent.
    page.goto(f"{live_server.url}/messages/")
    expect(page.locator(".journal-received")).to_contain_text("Puis-je passer le chercher jeudi ?")
