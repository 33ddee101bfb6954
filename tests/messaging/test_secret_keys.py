"""SMTP passwords survive a key change: SECRET_KEY_FALLBACKS and FIELD_ENCRYPTION_KEYS read them,
`rotate_secrets` re-encrypts them, and a password no key reads is an explicit, preserved error
(page, admin, system check, log, sending) instead of an empty password written back on save."""

from __future__ import annotations

import base64
import logging

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from messaging.dispatch import dispatch_pending
from messaging.models import EmailAccount, MessageStatus
from messaging.services import email_account_test
from tests.messaging.sending_helpers import NOON, free_port, make_account
from tests.messaging.test_smtp import Recorder, _mailing

pytestmark = pytest.mark.django_db

PASSWORD = "bon-mot-de-passe"
OLD_KEY = "old-secret-key-of-the-practice-server-0123456789abcdefghijklmnop"
NEW_KEY = "new-secret-key-of-the-practice-server-0123456789abcdefghijklmnop"
UNREADABLE = "mot de passe illisible : ressaisissez-le"


def derived_fernet(secret_key: str) -> Fernet:
    """The key derived from a SECRET_KEY, computed here independently: changing the derivation
    would make every stored password unreadable, so it is pinned by this test."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"dentcom-field-encryption", info=b"v1").derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(raw))


def raw_password(account: EmailAccount) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM messaging_emailaccount WHERE id = %s", [account.pk])
        return cursor.fetchone()[0]


def store_raw(account: EmailAccount, token: str) -> None:
    """Put a ciphertext in the column as another server (another key) would have written it."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE messaging_emailaccount SET password = %s WHERE id = %s", [token, account.pk])


def account_stored_under(fernet: Fernet, **kwargs) -> EmailAccount:
    account = make_account(username="secretariat", **kwargs)
    store_raw(account, fernet.encrypt(PASSWORD.encode()).decode())
    return EmailAccount.objects.get(pk=account.pk)


@pytest.fixture
def smtp_auth(settings):
    """A real SMTP server on loopback that only accepts the right password."""
    settings.MESSAGING_EMAIL_BACKEND = "messaging.backends.email.EmailBackend"

    def authenticator(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=auth_data.login == b"secretariat" and auth_data.password == PASSWORD.encode(),
                          handled=False)

    handler = Recorder()
    handler.port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port, authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    yield handler
    controller.stop()


# ---------------------------------------------------------------------------------------------
# Reading with former keys, rotating
# ---------------------------------------------------------------------------------------------


def test_a_new_secret_key_with_the_old_one_in_fallbacks_still_reads_the_password(settings, smtp_auth):
    settings.SECRET_KEY = NEW_KEY
    settings.SECRET_KEY_FALLBACKS = [OLD_KEY]
    account = account_stored_under(derived_fernet(OLD_KEY), smtp_port=smtp_auth.port)
    assert account.password == PASSWORD and not account.password_unreadable
    # And the real server accepts it.
    mailing = _mailing(account, ["a@patients.test"])
    dispatch_pending(now=NOON)
    assert mailing.messages.get().status == MessageStatus.SENT


def test_rotate_secrets_reencrypts_under_the_current_key_so_the_fallback_can_go(settings, capsys):
    settings.SECRET_KEY = NEW_KEY
    settings.SECRET_KEY_FALLBACKS = [OLD_KEY]
    old = account_stored_under(derived_fernet(OLD_KEY))
    current = make_account(name="Déjà à jour", password="autre-secret")
    empty = make_account(name="Sans mot de passe")
    before_current = raw_password(current)

    call_command("rotate_secrets")
    out = capsys.readouterr().out
    assert "1 secret(s) rechiffré(s) depuis une ancienne clé, 1 déjà sous la clé actuelle" in out
    assert "1 vide(s)" in out and "les anciennes clés peuvent être retirées" in out

    settings.SECRET_KEY_FALLBACKS = []
    assert derived_fernet(NEW_KEY).decrypt(raw_password(old).encode()).decode() == PASSWORD
    assert EmailAccount.objects.get(pk=old.pk).password == PASSWORD
    assert EmailAccount.objects.get(pk=current.pk).password == "autre-secret"
    assert raw_password(current) != before_current  # rewritten all the same, still readable
    assert raw_password(empty) == ""


def test_field_encryption_keys_first_encrypts_all_decrypt_and_rotate(settings):
    k_old, k_new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [k_new, k_old]
    account = account_stored_under(Fernet(k_old))
    assert account.password == PASSWORD
    fresh = make_account(name="Nouveau", password="neuf")
    assert Fernet(k_new).decrypt(raw_password(fresh).encode()) == b"neuf"

    call_command("rotate_secrets")
    settings.FIELD_ENCRYPTION_KEYS = [k_new]
    assert Fernet(k_new).decrypt(raw_password(account).encode()).decode() == PASSWORD
    assert EmailAccount.objects.get(pk=account.pk).password == PASSWORD


def test_setting_field_encryption_keys_for_the_first_time_keeps_the_secret_key_ones_readable(settings):
    account = make_account(password=PASSWORD)  # under the key derived from SECRET_KEY
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    assert EmailAccount.objects.get(pk=account.pk).password == PASSWORD


def test_the_keys_come_from_the_environment_or_files(monkeypatch, tmp_path):
    from practice.settings import env_secret_list

    monkeypatch.setenv("FIELD_ENCRYPTION_KEYS", " k1 , k2,")
    assert env_secret_list("FIELD_ENCRYPTION_KEYS") == ["k1", "k2"]
    keys_file = tmp_path / "keys"
    keys_file.write_text("k3\nk4\n", encoding="utf-8")
    monkeypatch.setenv("FIELD_ENCRYPTION_KEYS_FILE", str(keys_file))
    assert env_secret_list("FIELD_ENCRYPTION_KEYS") == ["k3", "k4"]
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", "ancienne-cle-1,ancienne-cle-2")
    assert env_secret_list("SECRET_KEY_FALLBACKS") == ["ancienne-cle-1", "ancienne-cle-2"]


def test_a_field_encryption_key_that_is_not_a_fernet_key_is_a_check_error(settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), "pas-une-cle"]
    assert [e.id for e in run_checks() if e.id == "practice.E001"] == ["practice.E001"]
    assert "entry 2" in next(e.msg for e in run_checks() if e.id == "practice.E001")


# ---------------------------------------------------------------------------------------------
# A password no key can read
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def lost(caplog):
    """An account whose password was encrypted with a key this server no longer has."""
    with caplog.at_level(logging.ERROR, logger="practice.crypto"):
        account = account_stored_under(Fernet(Fernet.generate_key()), name="Secrétariat", display_name="Cabinet")
    account.raw = raw_password(account)
    return account


def test_an_unreadable_password_is_an_explicit_state_and_is_logged(lost, caplog):
    assert lost.password_unreadable
    assert lost.password  # a password is stored: it is not "no password"
    assert str(lost.password) == ""  # and never stands in for one
    from messaging.models import UnreadablePassword

    with pytest.raises(UnreadablePassword, match=UNREADABLE):
        _ = lost.smtp_password
    assert any("cannot be decrypted with any configured key" in r.getMessage() for r in caplog.get_records("setup"))


def test_the_settings_pages_and_the_admin_show_it(admin_client, lost):
    page = admin_client.get(reverse("messaging:account_edit", args=[lost.pk])).content.decode()
    assert "Mot de passe illisible : ressaisissez-le" in page
    assert UNREADABLE in admin_client.get(reverse("messaging:accounts")).content.decode()
    admin_page = admin_client.get(reverse("admin:messaging_emailaccount_change", args=[lost.pk])).content.decode()
    assert "ressaisissez-le" in admin_page
    assert UNREADABLE in admin_client.get(reverse("admin:messaging_emailaccount_changelist")).content.decode()
    assert lost.raw not in page + admin_page


def test_the_system_check_is_quiet_when_every_secret_reads(settings):
    make_account(password=PASSWORD)
    assert not [m for m in run_checks(databases=["default"]) if m.id == "practice.W001"]


def test_the_system_check_reports_an_unreadable_password(lost):
    warnings = [m for m in run_checks(databases=["default"]) if m.id == "practice.W001"]
    assert len(warnings) == 1
    assert "compte email « Secrétariat » (mot de passe)" in warnings[0].msg and UNREADABLE in warnings[0].msg
    # Not an error: the server must start so that the password can be typed again.
    assert not [m for m in run_checks(databases=["default"]) if m.is_serious()]


def _account_post(**overrides):
    data = {
        "name": "Secrétariat", "email": "secretariat@cabinet.test", "display_name": "Cabinet",
        "smtp_host": "127.0.0.1", "smtp_port": 2525, "security": "none", "timeout": 5,
        "username": "secretariat", "new_password": "", "active": "on",
    }
    data.update(overrides)
    return data


def test_saving_another_field_keeps_the_stored_ciphertext_byte_for_byte(admin_client, lost):
    response = admin_client.post(reverse("messaging:account_edit", args=[lost.pk]),
                                 _account_post(display_name="Cabinet dentaire"))
    assert response.status_code == 302
    assert raw_password(lost) == lost.raw
    response = admin_client.post(reverse("admin:messaging_emailaccount_change", args=[lost.pk]),
                                 _account_post(display_name="Cabinet dentaire", smtp_port=2526))
    assert response.status_code == 302, response.content.decode()[:2000]
    account = EmailAccount.objects.get(pk=lost.pk)
    assert (account.display_name, account.smtp_port) == ("Cabinet dentaire", 2526)
    assert raw_password(lost) == lost.raw
    # The model's own save and full_clean keep it too.
    account.full_clean()
    account.save()
    assert raw_password(lost) == lost.raw


def test_typing_a_new_password_replaces_it(admin_client, lost):
    admin_client.post(reverse("messaging:account_edit", args=[lost.pk]), _account_post(new_password="retrouvé"))
    account = EmailAccount.objects.get(pk=lost.pk)
    assert account.password == "retrouvé" and not account.password_unreadable


def test_rotate_secrets_lists_it_and_leaves_it_alone(lost, capsys):
    with pytest.raises(CommandError, match="1 secret illisible"):
        call_command("rotate_secrets")
    assert f"compte email « Secrétariat » (mot de passe) : {UNREADABLE}" in capsys.readouterr().err
    assert raw_password(lost) == lost.raw


def test_sending_fails_that_accounts_messages_with_the_reason_and_not_the_others(lost, smtp_auth):
    good = make_account(name="Accueil", username="secretariat", smtp_port=smtp_auth.port, password=PASSWORD)
    EmailAccount.objects.filter(pk=lost.pk).update(smtp_port=smtp_auth.port)
    lost.refresh_from_db()
    blocked = _mailing(lost, ["a@patients.test", "b@patients.test"])
    fine = _mailing(good, ["c@patients.test"], subject="Autre")

    result = dispatch_pending(now=NOON)
    assert (result.sent, result.failed) == (1, 2)
    for m in blocked.messages.all():
        assert m.status == MessageStatus.FAILED and m.error_code == "smtp-password"
        assert UNREADABLE in m.reason and "Secrétariat" in m.reason
    assert fine.messages.get().status == MessageStatus.SENT
    assert [msg["To"] for msg in smtp_auth.received] == ["c@patients.test"]
    assert smtp_auth.ehlos == 1  # no connection was even tried without the password


def test_the_account_test_says_so(lost):
    result = email_account_test(account=lost)
    assert not result.ok and UNREADABLE in result.message
    assert raw_password(lost) == lost.raw
