"""A file from the computer attached once in the email send window: checked like every email
attachment (type, content, EMAIL_ATTACHMENT_MAX_MB), stored (never public), sent with the email,
kept with the message (history link, resend), and a refused file loses nothing of the window."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from messaging.attachments import SOURCE_UPLOAD, uploads_purge_unused
from messaging.demo import ensure_demo_messaging
from messaging.models import (
    EmailTemplate,
    Mailing,
    Message,
    MessageStatus,
    TemplateCategory,
    UploadedAttachment,
)
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def patient():
    return PatientFactory(first_name="Emma", last_name="Ablirant", email="emma@patients.test")


@pytest.fixture
def account(db):
    return ensure_demo_messaging()


def _post(client, patient, account, token, **extra):
    data = {"recipients": [f"patient:{patient.email}"], "account": account.pk, "signature": "",
            "subject": "Votre ordonnance", "body_html": "<p>Bonjour @PPREN, voici votre ordonnance.</p>",
            "token": token}
    data.update(extra)
    return client.post(reverse("sending:email", args=[patient.pk]), data)


def test_the_file_leaves_with_the_email_the_history_offers_it_and_a_resend_carries_it(
    assistant_client, patient, account, on_commit
):
    with on_commit():
        response = _post(assistant_client, patient, account, "a1",
                         fichiers=SimpleUploadedFile("ordonnance été.pdf", PDF, "application/pdf"))
    assert response.status_code == 302
    [sent] = mail.outbox
    assert sent.attachments == [("ordonnance été.pdf", PDF, "application/pdf")]
    message = Message.objects.get()
    assert message.status == MessageStatus.SENT
    [entry] = message.attachments
    assert entry["source"] == SOURCE_UPLOAD and entry["kept"] and entry["filename"] == "ordonnance été.pdf"
    assert entry["path"].startswith("pieces-jointes/") and default_storage.open(entry["path"]).read() == PDF

    # The patient's history offers it, to staff only.
    link = reverse("stored_file", args=[entry["path"]])
    history = assistant_client.get(reverse("sending:history", args=[patient.pk])).content.decode()
    assert escape(link) in history or link in history
    download = assistant_client.get(link)
    assert download.status_code == 200 and b"".join(download.streaming_content) == PDF
    assert download["Content-Disposition"].startswith("attachment")
    assistant_client.logout()
    assert assistant_client.get(link).status_code == 302  # to the login page
    assistant_client.force_login(UserFactory(username="sans-role"))
    assert assistant_client.get(link).status_code == 403

    # "Renvoyer" sends the same file again.
    assistant_client.force_login(UserFactory(username="julie2", role="Assistant(e)"))
    with on_commit():
        assistant_client.post(reverse("sending:resend", args=[message.pk]))
    assert len(mail.outbox) == 2 and mail.outbox[1].attachments == [("ordonnance été.pdf", PDF, "application/pdf")]

    # Deleted from the history, the message no longer shows its file anywhere.
    for m in Message.objects.all():
        assistant_client.post(reverse("sending:delete", args=[m.pk]))
    assert assistant_client.get(link).status_code == 404


def test_kept_even_when_the_email_type_keeps_no_attachments(assistant_client, patient, account, on_commit):
    """The email type's "conserver les pièces jointes" spares the storage of files copied at each
    send; a file attached once is stored once already and is what a resend needs."""
    template = EmailTemplate.objects.create(
        category=TemplateCategory.objects.create(name="Ordonnances"), label="Ordonnance", account=account,
        subject="Votre ordonnance", body_html="<p>Bonjour</p>", keep_attachments=False,
    )
    with on_commit():
        _post(assistant_client, patient, account, "a2", template=template.pk,
              fichiers=SimpleUploadedFile("plan.txt", b"Plan d'acces\n", "text/plain"))
    message = Message.objects.get()
    assert message.status == MessageStatus.SENT and message.mailing.keep_attachments is False
    [entry] = message.attachments
    assert entry["kept"] and default_storage.exists(entry["path"])


def test_a_refused_file_is_said_and_nothing_of_the_window_is_lost(assistant_client, assistant, patient, account,
                                                                   on_commit):
    response = _post(assistant_client, patient, account, "a3",
                     fichiers=[SimpleUploadedFile("virus.exe", b"MZ\x90\x00", "application/octet-stream"),
                               SimpleUploadedFile("faux.pdf", b"<html><script>x</script>", "application/pdf"),
                               SimpleUploadedFile("plan.txt", b"Plan d'acces\n", "text/plain")])
    assert response.status_code == 200
    page = response.content.decode()
    assert escape("« virus.exe » : Type de fichier refusé (.exe).") in page
    assert escape("« faux.pdf » : Le contenu du fichier ne correspond pas à son extension .pdf : fichier refusé.") in page
    # The rest of the window as typed, and the good file kept (stored, ticked).
    assert 'value="Votre ordonnance"' in page and "voici votre ordonnance" in page
    kept = UploadedAttachment.objects.get()
    assert (kept.filename, kept.used, kept.uploaded_by) == ("plan.txt", False, assistant)
    assert f'name="upload" value="{kept.pk}" checked' in page
    assert Mailing.objects.count() == 0 and mail.outbox == []

    # Sent as corrected: the kept file goes, without being chosen again.
    with on_commit():
        response = _post(assistant_client, patient, account, "a3", upload=[kept.pk])
    assert response.status_code == 302
    assert [a[0] for a in mail.outbox[0].attachments] == ["plan.txt"]
    kept.refresh_from_db()
    assert kept.used


def test_too_large_and_unticked_files_do_not_leave(assistant_client, patient, account, settings, on_commit):
    settings.EMAIL_ATTACHMENT_MAX_MB = 0.5
    big = SimpleUploadedFile("radio.pdf", PDF + b"0" * (600 * 1024), "application/pdf")
    response = _post(assistant_client, patient, account, "a4", subject="",
                     fichiers=[big, SimpleUploadedFile("plan.txt", b"Plan\n", "text/plain")])
    page = response.content.decode()
    assert escape("« radio.pdf » : Le fichier dépasse la taille maximale de 0,5 Mo pour une pièce jointe.") in page
    assert escape("L'objet est vide.") in page
    kept = UploadedAttachment.objects.get()
    # Unticked in the window (not posted back): it does not leave.
    with on_commit():
        assert _post(assistant_client, patient, account, "a4").status_code == 302
    assert mail.outbox[0].attachments == [] and Message.objects.get().attachments == []
    kept.refresh_from_db()
    assert not kept.used


def test_another_persons_upload_cannot_be_slipped_in(assistant_client, patient, account, on_commit):
    from messaging.attachments import upload_store

    other = upload_store(upload=SimpleUploadedFile("secret.txt", b"secret\n", "text/plain"),
                         patient=PatientFactory(), user=UserFactory(username="autre", role="Assistant(e)"))
    with on_commit():
        _post(assistant_client, patient, account, "a5", upload=[other.pk])
    assert mail.outbox[0].attachments == []


def test_files_never_sent_are_removed_after_a_day(assistant_client, patient, account, on_commit):
    from messaging.attachments import upload_store

    forgotten = upload_store(upload=SimpleUploadedFile("oubli.txt", b"x\n", "text/plain"), patient=patient, user=None)
    with on_commit():
        _post(assistant_client, patient, account, "a6", fichiers=SimpleUploadedFile("envoye.txt", b"y\n", "text/plain"))
    sent = UploadedAttachment.objects.get(filename="envoye.txt")
    later = timezone.now() + dt.timedelta(hours=25)
    assert uploads_purge_unused(now=later) == 1
    assert not default_storage.exists(forgotten.file.name)
    assert list(UploadedAttachment.objects.all()) == [sent] and default_storage.exists(sent.file.name)


def test_a_file_waiting_in_its_window_is_served_to_staff_only(assistant_client, patient, account, client):
    _post(assistant_client, patient, account, "a7", subject="",
          fichiers=SimpleUploadedFile("plan.txt", b"Plan\n", "text/plain"))
    upload = UploadedAttachment.objects.get()
    link = reverse("stored_file", args=[upload.file.name])
    assert assistant_client.get(link).status_code == 200
    client.force_login(UserFactory(username="sans-role"))
    assert client.get(link).status_code == 403


def test_a_posted_back_upload_id_that_is_no_number_is_ignored(assistant_client, patient, account, on_commit):
    """The window posts back the ids of its stored files: "²" (a digit to str.isdigit, not to
    int) or an id past a bigint is not one of them, and the email leaves (it was a 500)."""
    with on_commit():
        response = _post(assistant_client, patient, account, "a9", upload=["²", "99999999999999999999999"])
    assert response.status_code == 302
    [sent] = mail.outbox
    assert sent.attachments == []


def _stored_files() -> list[str]:
    from messaging.attachments import UPLOAD_FOLDER

    folders = [UPLOAD_FOLDER.rstrip("/")]
    found = []
    while folders:
        folder = folders.pop()
        if not default_storage.exists(folder):
            continue
        subdirs, files = default_storage.listdir(folder)
        folders += [f"{folder}/{d}" for d in subdirs]
        found += [f"{folder}/{f}" for f in files]
    return sorted(found)


def test_a_double_submit_sends_once_and_stores_the_file_once(assistant_client, patient, account, on_commit):
    """A double click posts the window twice with the same file: one email, one stored file (the
    second post stored a copy marked as sent that no message carried, kept forever)."""
    for _ in range(2):
        with on_commit():
            response = _post(assistant_client, patient, account, "dbl",
                             fichiers=SimpleUploadedFile("ordonnance.pdf", PDF, "application/pdf"))
        assert response.status_code == 302
    mailing = Mailing.objects.get()
    assert response.url == reverse("sending:result", args=[mailing.pk])
    assert len(mail.outbox) == 1 and Message.objects.count() == 1
    upload = UploadedAttachment.objects.get()
    assert upload.used and _stored_files() == [upload.file.name]
    assert Message.objects.get().attachments[0]["path"] == upload.file.name


def test_the_copy_of_a_double_submit_that_lost_the_race_is_removed_at_once(assistant_client, assistant, patient,
                                                                           account, on_commit):
    """Two posts of the same window at the same moment both store the file; the outbox writes one
    mailing (its idempotency key) and hands the same one back to the second: the second's copy,
    carried by no message, is removed there and then (file and row)."""
    from messaging.attachments import upload_store, uploads_settle

    with on_commit():
        _post(assistant_client, patient, account, "race", fichiers=SimpleUploadedFile("plan.txt", b"Plan\n", "text/plain"))
    mailing = Mailing.objects.get()
    sent = UploadedAttachment.objects.get()
    copy = upload_store(upload=SimpleUploadedFile("plan.txt", b"Plan\n", "text/plain"), patient=patient, user=assistant)
    with on_commit():
        uploads_settle(mailing=mailing, uploads=[copy])
    assert list(UploadedAttachment.objects.all()) == [sent] and _stored_files() == [sent.file.name]
    # An upload already carried by another mailing is never removed by a window that did not carry it.
    with on_commit():
        uploads_settle(mailing=mailing, uploads=[])
        other = Mailing.objects.create(origin=mailing.origin, channel=mailing.channel, account=account)
        uploads_settle(mailing=other, uploads=[sent])
    assert list(UploadedAttachment.objects.all()) == [sent] and default_storage.exists(sent.file.name)


def test_an_abandoned_window_leaves_no_file_behind_even_if_nobody_attaches_another(patient, account):
    """The purge of files never sent ran only when someone attached the next file: a practice that
    never does again kept them forever. The five-minute housekeeping task runs it too."""
    from messaging.attachments import upload_store
    from messaging.tasks import reconcile_task

    forgotten = upload_store(upload=SimpleUploadedFile("oubli.txt", b"x\n", "text/plain"), patient=patient, user=None)
    recent = upload_store(upload=SimpleUploadedFile("en-cours.txt", b"y\n", "text/plain"), patient=patient, user=None)
    UploadedAttachment.objects.filter(pk=forgotten.pk).update(uploaded_at=timezone.now() - dt.timedelta(hours=25))
    assert reconcile_task()["purged_uploads"] == 1
    assert list(UploadedAttachment.objects.all()) == [recent]
    assert _stored_files() == [recent.file.name]


def test_a_file_purged_while_its_window_stayed_open_stops_the_send_with_a_clear_message(
    assistant_client, patient, account, on_commit
):
    """Chosen, the window kept open past the purge of files never sent, then "Envoyer": the email
    does not leave without it, and staff read why (the window posted back an id that is gone)."""
    response = _post(assistant_client, patient, account, "open", subject="",
                     fichiers=SimpleUploadedFile("plan d'accès.pdf", PDF, "application/pdf"))
    assert response.status_code == 200
    kept = UploadedAttachment.objects.get()
    assert uploads_purge_unused(now=timezone.now() + dt.timedelta(hours=25)) == 1
    with on_commit():
        response = _post(assistant_client, patient, account, "open", upload=[kept.pk],
                         **{f"upload_name_{kept.pk}": kept.filename})
    assert response.status_code == 200
    assert escape("La pièce jointe « plan d'accès.pdf » n'est plus disponible : joignez-la de nouveau.") in (
        response.content.decode())
    assert Mailing.objects.count() == 0 and mail.outbox == []
    # Without the name (an old page), the message still says which: the one chosen before.
    response = _post(assistant_client, patient, account, "open", upload=[kept.pk])
    assert escape("Une pièce jointe choisie plus tôt n'est plus disponible : joignez-la de nouveau.") in (
        response.content.decode())
    assert Mailing.objects.count() == 0


def test_the_window_posts_back_the_name_of_each_kept_file(assistant_client, patient, account):
    response = _post(assistant_client, patient, account, "names", subject="",
                     fichiers=SimpleUploadedFile("plan.txt", b"Plan\n", "text/plain"))
    kept = UploadedAttachment.objects.get()
    assert f'name="upload_name_{kept.pk}" value="plan.txt"' in response.content.decode()


def test_a_file_purged_between_the_window_check_and_the_send_does_not_leave_a_message_without_it(
    assistant_client, patient, account, on_commit, monkeypatch
):
    """The purge can remove the row after the window read it: the send claims its files in the
    same transaction as the mailing, so it stops with the message instead of writing an email
    whose file is gone."""
    import messaging.attachments as attachments

    _post(assistant_client, patient, account, "late", subject="",
          fichiers=SimpleUploadedFile("plan.txt", b"Plan\n", "text/plain"))
    kept = UploadedAttachment.objects.get()
    real = attachments.uploads_of_window

    def read_then_purged(**kwargs):
        found = real(**kwargs)
        attachments.uploads_purge_unused(now=timezone.now() + dt.timedelta(hours=25))
        return found

    monkeypatch.setattr(attachments, "uploads_of_window", read_then_purged)
    with on_commit():
        response = _post(assistant_client, patient, account, "late", upload=[kept.pk])
    assert response.status_code == 200
    assert escape("La pièce jointe « plan.txt » n'est plus disponible : joignez-la de nouveau.") in response.content.decode()
    assert Mailing.objects.count() == 0 and Message.objects.count() == 0 and mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_two_posts_of_the_same_window_at_the_same_moment_write_one_email_and_keep_one_file(patient, account):
    """Two real requests of the same window in two threads (PostgreSQL: the second waits on the
    mailing's unique key), both past the "already sent" look and both holding a stored copy when
    they reach the outbox: one mailing, one message, one file kept, the other copy removed."""
    import threading

    from django.db import connection
    from django.test import Client

    import messaging.attachments as attachments

    if connection.vendor != "postgresql":
        pytest.skip("two requests writing at once need PostgreSQL's row locks")
    user = UserFactory(username="double", role="Assistant(e)")
    both_stored = threading.Barrier(2, timeout=30)
    real = attachments.upload_store

    def store_then_wait(**kwargs):
        record = real(**kwargs)
        both_stored.wait()  # each request has its own copy before either writes its mailing
        return record

    results = []

    def post():
        try:
            client = Client()
            client.force_login(user)
            results.append(_post(client, patient, account, "same-window",
                                 fichiers=SimpleUploadedFile("plan.txt", b"Plan\n", "text/plain")).status_code)
        finally:
            connection.close()

    attachments.upload_store = store_then_wait
    try:
        threads = [threading.Thread(target=post) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        attachments.upload_store = real
    assert results == [302, 302]
    mailing = Mailing.objects.get()
    message = Message.objects.get()
    upload = UploadedAttachment.objects.get()
    assert message.mailing_id == mailing.pk and message.attachments[0]["path"] == upload.file.name
    assert upload.used and _stored_files() == [upload.file.name]
