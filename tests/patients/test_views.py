import datetime as dt
import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from patients.models import CorrespondentLink, Guardian, Patient, PatientImage
from tests.factories import (
    CorrespondentFactory,
    GuardianFactory,
    MinorPatientFactory,
    PatientFactory,
    PractitionerFactory,
    UserFactory,
)
from tests.helpers import page_text

pytestmark = pytest.mark.django_db


def patient_post(**overrides):
    """A valid POST of the create/edit page: an adult, their own guardian."""
    data = {
        "civility": "Mme",
        "last_name": "Ghienne",
        "first_name": "Eireen",
        "second_first_name": "",
        "file_number": "",
        "birth_date": "1990-06-15",
        "sex": "F",
        "patient_type": "",
        "file_status": "en_traitement",
        "practitioner": "",
        "address1": "",
        "address2": "",
        "postcode": "",
        "city": "",
        "country": "France",
        "email": "eireen@patients.test",
        "phone": "",
        "mobile": "06 84 28 55 60",
        "sms_consent": "on",
        "email_consent": "on",
        "remark": "",
        "civil-mode": "self",
        "civil-guardian": "",
        "financial-mode": "self",
        "financial-guardian": "",
        "corr-TOTAL_FORMS": "1",
        "corr-INITIAL_FORMS": "0",
        "corr-MIN_NUM_FORMS": "0",
        "corr-MAX_NUM_FORMS": "1000",
        "corr-0-correspondent": "",
        "corr-0-role": "Dentiste traitant",
    }
    data.update(overrides)
    return data


def field_error(response, field_id: str) -> str:
    """The error text crispy shows under the field ``field_id`` (empty when there is none); the
    field itself must be marked invalid."""
    content = page_text(response)
    match = re.search(
        rf'<div id="{field_id}_error" class="invalid-feedback">\s*(.*?)\s*</div>', content, re.S
    )
    if not match:
        return ""
    assert re.search(rf'<[^>]*is-invalid[^>]*id="{field_id}"', content), f"{field_id} is not marked invalid"
    return " ".join(re.findall(r"<strong>(.*?)</strong>", match.group(1)))


# Patient list -------------------------------------------------------------------------------


def test_the_list_finds_patients_by_name_first_name_file_number_and_phone(assistant_client):
    zimmer = PatientFactory(
        last_name="Zimmer", first_name="Alexis", file_number="2228", mobile="+33684285560"
    )
    PatientFactory(last_name="Kisiel", first_name="Luka", file_number="1029", mobile="+33613682982")
    url = reverse("patients:list")
    for query in ["zim", "ZIMMER alex", "2228", "06 84 28 55 60", "06.84.28.55.60"]:
        content = page_text(assistant_client.get(url, {"q": query}))
        assert "ZIMMER" in content, query
        assert "KISIEL" not in content, query
        assert "06.84.28.55.60" in content
    assert zimmer.get_absolute_url() in page_text(assistant_client.get(url, {"q": "zimmer"}))
    assert "Aucun patient" in page_text(assistant_client.get(url, {"q": "nobody"}))


def test_the_list_finds_an_overseas_mobile_typed_any_usual_way(assistant_client):
    PatientFactory(last_name="Hoarau", first_name="Maeva", mobile="+590690123456")
    PatientFactory(last_name="Kisiel", first_name="Luka", mobile="+33613682982")
    url = reverse("patients:list")
    for query in ["0690 12 34 56", "06.90.12.34.56", "+590 690 12 34 56", "00590690123456"]:
        content = page_text(assistant_client.get(url, {"q": query}))
        assert "HOARAU" in content and "KISIEL" not in content, query
        assert "06.90.12.34.56" in content


def test_the_list_finds_a_patient_by_first_name_in_either_order(assistant_client):
    PatientFactory(last_name="Mercier", first_name="Élodie")
    PatientFactory(last_name="Martin", first_name="Paul")
    for query in ["elodie", "Élodie", "élodie mercier", "MERCIER élo"]:
        content = page_text(assistant_client.get(reverse("patients:list"), {"q": query}))
        assert "MERCIER" in content and "MARTIN" not in content, query


def test_the_list_counts_patients_in_french(assistant_client):
    url = reverse("patients:list")
    assert "0 patient pour « nobody »" in page_text(assistant_client.get(url, {"q": "nobody"}))
    PatientFactory(last_name="Zimmer", first_name="Alexis")
    assert "1 patient pour « zimmer »" in page_text(assistant_client.get(url, {"q": "zimmer"}))
    PatientFactory(last_name="Zimmer", first_name="Anne")
    assert "2 patients pour « zimmer »" in page_text(assistant_client.get(url, {"q": "zimmer"}))


def test_file_number_and_first_name_link_to_the_file_too(assistant_client):
    patient = PatientFactory(last_name="Zimmer", first_name="Alexis", file_number="2228")
    content = page_text(assistant_client.get(reverse("patients:list"), {"q": "zimmer"}))
    url = patient.get_absolute_url()
    assert f'<tr data-href="{url}">' in content
    assert f'<a href="{url}" class="text-muted">2228</a>' in content
    assert f'<a href="{url}" class="text-body">Alexis</a>' in content


def test_the_file_shows_the_email_consent_like_the_sms_one(assistant_client):
    accepts = PatientFactory(email="oui@patients.test", email_consent=True)
    refuses = PatientFactory(email="non@patients.test", email_consent=False)
    assert '<span class="badge text-bg-success" title="Accepte les emails">Email</span>' in page_text(
        assistant_client.get(accepts.get_absolute_url())
    )
    page = page_text(assistant_client.get(refuses.get_absolute_url()))
    assert '<span class="badge text-bg-secondary" title="Contact par mail non désiré">pas d\'email</span>' in page


def test_the_list_is_paginated(assistant_client):
    PatientFactory.create_batch(55, last_name="Adam")
    first = page_text(assistant_client.get(reverse("patients:list"), {"q": "adam"}))
    assert "55 patients" in first
    assert "Page 1 / 2" in first
    second = page_text(assistant_client.get(reverse("patients:list"), {"q": "adam", "page": 2}))
    assert second.count('class="fw-semibold">ADAM</a>') == 5


def test_the_list_query_count_does_not_grow_with_rows(assistant_client, django_assert_max_num_queries):
    practitioner = PractitionerFactory()
    PatientFactory.create_batch(3, practitioner=practitioner)
    # 13 with the session saved at every request (the idle timeout: SESSION_SAVE_EVERY_REQUEST).
    with django_assert_max_num_queries(13) as few:
        assistant_client.get(reverse("patients:list"))
    PatientFactory.create_batch(47, practitioner=practitioner)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = assistant_client.get(reverse("patients:list"))
    assert page_text(response).count(practitioner.initials) >= 50


# Patient file ---------------------------------------------------------------------------------


def test_the_file_shows_tabs_phones_guardians_correspondents_and_family(assistant_client):
    minor = MinorPatientFactory(last_name="Ablirant", first_name="Emma", phone="+33380320140")
    sister = PatientFactory(last_name="Ablirant", first_name="Jade", birth_date=dt.date(2008, 11, 8))
    services_family = minor.__class__.objects
    from patients.models import Family

    family = Family.objects.create(name="ABLIRANT")
    services_family.filter(pk__in=[minor.pk, sister.pk]).update(family=family)
    practitioner = PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    correspondent = CorrespondentFactory(last_name="Dupuis")
    CorrespondentLink.objects.create(
        correspondent=correspondent, practitioner=practitioner, relationship="confrere"
    )
    minor.correspondent_links.create(correspondent=correspondent, role="Dentiste traitant")

    content = page_text(assistant_client.get(minor.get_absolute_url()))
    for tab in ["Patient", "Responsables", "Correspondants", "Images"]:
        assert f'id="tab-{tab.lower()}"' in content
    assert "03.80.32.01.40" in content
    assert "Mme ABLIRANT Stéphanie" in content and "06.13.68.29.82" in content  # civil guardian
    assert "Le patient lui-même." in content  # no financial guardian
    assert "Dr DUPUIS Henri" in content and "Confrère" in content and "Relation MM" in content
    assert "ABLIRANT Jade" in content and "08/11/2008" in content
    assert "Création d'une fiche pour un nouveau membre" in content


def test_create_a_minor_with_a_new_guardian_and_a_correspondent(assistant_client):
    correspondent = CorrespondentFactory()
    data = patient_post(
        last_name="Point",
        first_name="Estelle",
        birth_date="2014-02-01",
        mobile="",
        **{
            "civil-mode": "new",
            "civil-new-last_name": "Point",
            "civil-new-first_name": "Sophie",
            "civil-new-mobile": "07 81 23 45 67",
            "civil-new-email": "sophie@parents.test",
            "civil-new-country": "France",
            "civil-new-sms_consent": "on",
            "civil-new-email_consent": "on",
            "financial-mode": "civil",
            "corr-0-correspondent": str(correspondent.pk),
        },
    )
    response = assistant_client.post(reverse("patients:create"), data)
    patient = Patient.objects.get(last_name="Point")
    assert response.status_code == 302 and response["Location"] == patient.get_absolute_url()
    assert patient.civil_guardian.first_name == "Sophie"
    assert str(patient.civil_guardian.mobile) == "+33781234567"
    assert patient.financial_guardian == patient.civil_guardian
    assert list(patient.correspondents.all()) == [correspondent]
    assert "est créée" in page_text(assistant_client.get(response["Location"]))


def test_a_new_guardian_without_a_name_is_refused_on_the_responsables_tab(assistant_client):
    response = assistant_client.post(reverse("patients:create"), patient_post(**{"civil-mode": "new"}))
    assert response.status_code == 200
    assert not Patient.objects.exists()
    assert field_error(response, "id_civil-new-last_name") == "Ce champ est obligatoire."
    assert 'class="nav-link active" id="tab-responsables"' in page_text(response)


def test_an_existing_guardian_must_be_picked(assistant_client):
    response = assistant_client.post(reverse("patients:create"), patient_post(**{"civil-mode": "existing"}))
    assert "Choisissez le responsable dans la liste" in page_text(response)
    guardian = GuardianFactory()
    response = assistant_client.post(
        reverse("patients:create"),
        patient_post(**{"civil-mode": "existing", "civil-guardian": str(guardian.pk)}),
    )
    assert response.status_code == 302
    assert Patient.objects.get().civil_guardian == guardian


def test_an_invalid_mobile_shows_a_french_error_next_to_the_field(assistant_client):
    patient = PatientFactory()
    response = assistant_client.post(
        reverse("patients:edit", args=[patient.pk]),
        patient_post(file_number=patient.file_number, mobile="06 12"),
    )
    assert response.status_code == 200
    assert field_error(response, "id_mobile") == (
        "Saisissez un numéro de portable valide, par exemple 06 84 28 55 60 ou 0690 12 34 56 ; "
        "un numéro étranger s'écrit au format international, par exemple +44 7911 123456."
    )
    assert "corrigez les champs signalés" in page_text(response)
    assert field_error(response, "id_file_number") == ""
    patient.refresh_from_db()
    assert patient.last_name == "Ablirant"  # nothing saved


def test_a_landline_typed_into_the_mobile_field_is_refused(assistant_client):
    patient = PatientFactory()
    response = assistant_client.post(
        reverse("patients:edit", args=[patient.pk]),
        patient_post(file_number=patient.file_number, mobile="03 80 32 01 40"),
    )
    assert field_error(response, "id_mobile") == (
        "03.80.32.01.40 n'est pas un numéro de portable : un portable français commence par 06 ou 07 "
        "(outre-mer : 0690, 0691, 0692, 0693, 0694, 0696, 0697 ou 0639)."
    )
    patient.refresh_from_db()
    assert str(patient.mobile) == "+33684285560"


@pytest.mark.parametrize(
    "typed, e164, shown, in_form",
    [
        ("0690 12 34 56", "+590690123456", "06.90.12.34.56", "0690 12 34 56"),  # Guadeloupe
        ("06.94.20.12.34", "+594694201234", "06.94.20.12.34", "0694 20 12 34"),  # Guyane
        ("+596 696 12 34 56", "+596696123456", "06.96.12.34.56", "0696 12 34 56"),  # Martinique
        ("00262692123456", "+262692123456", "06.92.12.34.56", "0692 12 34 56"),  # La Réunion
        ("0639 20 12 34", "+262639201234", "06.39.20.12.34", "0639 20 12 34"),  # Mayotte
    ],
)
def test_an_overseas_mobile_is_accepted_stored_in_e164_and_shown_the_french_way(
    assistant_client, typed, e164, shown, in_form
):
    response = assistant_client.post(reverse("patients:create"), patient_post(mobile=typed))
    assert response.status_code == 302, field_error(response, "id_mobile")
    patient = Patient.objects.get()
    assert patient.mobile == e164
    assert shown in page_text(assistant_client.get(reverse("patients:detail", args=[patient.pk])))
    assert f'value="{in_form}"' in page_text(assistant_client.get(reverse("patients:edit", args=[patient.pk])))


def test_a_foreign_mobile_typed_nationally_is_told_the_international_form(assistant_client):
    response = assistant_client.post(reverse("patients:create"), patient_post(mobile="07911 123456"))
    assert "format international, par exemple +44 7911 123456" in field_error(response, "id_mobile")
    assert 'value="07911 123456"' in page_text(response)  # shown back as typed, to be corrected
    response = assistant_client.post(reverse("patients:create"), patient_post(mobile="+44 7911 123456"))
    assert response.status_code == 302
    assert Patient.objects.get().mobile == "+447911123456"


def test_a_file_number_already_taken_names_the_patient_who_has_it(assistant_client):
    PatientFactory(last_name="Dupont", first_name="Jean", file_number="4521")
    message = "Ce numéro de dossier est déjà utilisé par DUPONT Jean."
    response = assistant_client.post(reverse("patients:create"), patient_post(file_number="4521"))
    assert response.status_code == 200
    assert field_error(response, "id_file_number") == message
    assert not Patient.objects.filter(last_name="Ghienne").exists()
    other = PatientFactory(last_name="Martin", first_name="Paul", file_number="77")
    response = assistant_client.post(
        reverse("patients:edit", args=[other.pk]), patient_post(file_number="4521")
    )
    assert field_error(response, "id_file_number") == message
    # Its own number is no duplicate.
    response = assistant_client.post(reverse("patients:edit", args=[other.pk]), patient_post(file_number="77"))
    assert response.status_code == 302


def test_a_future_birth_date_and_a_bad_email_are_refused(assistant_client):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    response = assistant_client.post(
        reverse("patients:create"), patient_post(birth_date=tomorrow.isoformat(), email="eireen@")
    )
    assert field_error(response, "id_birth_date") == "La date de naissance ne peut pas être dans le futur."
    assert field_error(response, "id_email") == "Saisissez une adresse de courriel valide."
    assert not Patient.objects.exists()


def test_edit_saves_and_switches_a_guardian(assistant_client):
    minor = MinorPatientFactory()
    other = GuardianFactory(last_name="Zimmer", first_name="Paul")
    response = assistant_client.post(
        reverse("patients:edit", args=[minor.pk]),
        patient_post(
            last_name=minor.last_name,
            first_name="Jade",
            file_number=minor.file_number,
            mobile="",
            **{"civil-mode": "existing", "civil-guardian": str(other.pk), "financial-mode": "self"},
        ),
    )
    assert response.status_code == 302
    minor.refresh_from_db()
    assert minor.first_name == "Jade" and minor.civil_guardian == other and minor.financial_guardian is None


def test_the_edit_form_shows_the_current_guardian_and_national_phone_format(assistant_client):
    minor = MinorPatientFactory(phone="+33380320140")
    content = page_text(assistant_client.get(reverse("patients:edit", args=[minor.pk])))
    assert 'value="03 80 32 01 40"' in content
    assert f'name="civil-guardian" value="{minor.civil_guardian_id}"' in content
    assert 'value="Mme ABLIRANT Stéphanie"' in content  # label of the picker


def test_guardian_edit_page(assistant_client):
    minor = MinorPatientFactory()
    guardian = minor.civil_guardian
    url = reverse("patients:guardian_edit", args=[guardian.pk])
    assert minor.display_name in page_text(assistant_client.get(url))
    data = {
        "civility": "Mme",
        "last_name": "Ablirant",
        "first_name": "Stéphanie",
        "country": "France",
        "mobile": "03 80 32 01 40",
        "sms_consent": "on",
        "email_consent": "on",
        "next": minor.get_absolute_url(),
    }
    response = assistant_client.post(url, data)
    assert "portable" in field_error(response, "id_mobile")
    data["mobile"] = "06 49 20 67 49"
    response = assistant_client.post(url, data)
    assert response["Location"] == minor.get_absolute_url()
    guardian.refresh_from_db()
    assert str(guardian.mobile) == "+33649206749"


def test_family_member_creation_from_the_file(assistant_client):
    patient = PatientFactory(last_name="Ablirant", city="Dijon")
    response = assistant_client.post(
        reverse("patients:family_member_create", args=[patient.pk]),
        {
            "member-TOTAL_FORMS": "3",
            "member-INITIAL_FORMS": "0",
            "member-MIN_NUM_FORMS": "0",
            "member-MAX_NUM_FORMS": "3",
            "member-0-first_name": "Jade",
            "member-0-sex": "F",
            "member-0-birth_date": "2015-11-08",
            "member-1-first_name": "",
            "member-1-sex": "",
            "member-1-birth_date": "",
            "member-2-first_name": "",
            "member-2-sex": "",
            "member-2-birth_date": "",
        },
    )
    assert response.status_code == 302
    jade = Patient.objects.get(first_name="Jade")
    assert jade.family_id == Patient.objects.get(pk=patient.pk).family_id and jade.city == "Dijon"
    assert "ABLIRANT Jade" in page_text(assistant_client.get(patient.get_absolute_url()))
    # The adult was their own guardian: the child is reached through them.
    assert jade.civil_guardian.last_name == "Ablirant" and jade.civil_guardian.mobile == patient.mobile
    assert jade.financial_guardian_id == jade.civil_guardian_id
    assert "ABLIRANT" in page_text(assistant_client.get(jade.get_absolute_url())).split("Responsable civil", 1)[-1]


def test_family_member_creation_refuses_a_future_birth_date(assistant_client):
    patient = PatientFactory()
    future = (timezone.localdate() + dt.timedelta(days=3)).isoformat()
    response = assistant_client.post(
        reverse("patients:family_member_create", args=[patient.pk]),
        {
            "member-TOTAL_FORMS": "1",
            "member-INITIAL_FORMS": "0",
            "member-MIN_NUM_FORMS": "0",
            "member-MAX_NUM_FORMS": "3",
            "member-0-first_name": "Jade",
            "member-0-sex": "F",
            "member-0-birth_date": future,
        },
    )
    assert response.status_code == 200
    assert "La date de naissance ne peut pas être dans le futur." in page_text(response)
    assert Patient.objects.count() == 1


# Images ---------------------------------------------------------------------------------------


def png_bytes() -> bytes:
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (4, 4), "white").save(buffer, "PNG")
    return buffer.getvalue()


def test_image_album_upload_view_and_delete(assistant_client, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    patient = PatientFactory()
    response = assistant_client.post(
        reverse("patients:image_add", args=[patient.pk]),
        {
            "file": SimpleUploadedFile("pano.png", png_bytes(), content_type="image/png"),
            "image_type": "panoramique",
            "subtype": "",
            "stage": "initial",
            "taken_on": "2024-01-15",
            "label": "Bilan",
        },
    )
    assert response.status_code == 302 and response["Location"].endswith("?onglet=images")
    image = PatientImage.objects.get(patient=patient)
    content = page_text(assistant_client.get(response["Location"]))
    assert "Panoramique" in content and "15/01/2024" in content
    file_response = assistant_client.get(reverse("patients:image_file", args=[image.pk]))
    assert b"".join(file_response.streaming_content) == png_bytes()
    name = image.file.name
    with django_capture_on_commit_callbacks(execute=True):
        assistant_client.post(reverse("patients:image_delete", args=[image.pk]))
    assert not PatientImage.objects.exists()
    assert not image.file.storage.exists(name)


def test_a_file_that_is_not_an_image_is_refused(assistant_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    patient = PatientFactory()
    response = assistant_client.post(
        reverse("patients:image_add", args=[patient.pk]),
        {
            "file": SimpleUploadedFile("notes.png", b"not an image", content_type="image/png"),
            "image_type": "panoramique",
            "stage": "initial",
            "taken_on": "2024-01-15",
        },
    )
    assert response.status_code == 200
    assert "image valide" in page_text(response)
    assert not PatientImage.objects.exists()


# Pickers --------------------------------------------------------------------------------------


def test_patient_and_guardian_lookups_answer_json(assistant_client):
    PatientFactory(last_name="Zimmer", first_name="Alexis", file_number="2228")
    GuardianFactory(last_name="Zimmer", first_name="Anne", mobile="+33613682982")
    patients = assistant_client.get(reverse("patients:lookup"), {"q": "zim"}).json()["results"]
    assert [r["label"] for r in patients] == ["ZIMMER Alexis"]
    assert "dossier 2228" in patients[0]["detail"]
    guardians = assistant_client.get(reverse("patients:guardian_lookup"), {"q": "zimmer an"}).json()[
        "results"
    ]
    assert [r["label"] for r in guardians] == ["Mme ZIMMER Anne"]
    assert guardians[0]["detail"].startswith("06.13.68.29.82")
    assert assistant_client.get(reverse("patients:lookup"), {"q": "z"}).json() == {"results": []}


# Permissions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, args",
    [
        ("patients:list", []),
        ("patients:create", []),
        ("patients:detail", [1]),
        ("patients:edit", [1]),
        ("patients:planning", []),
    ],
)
def test_anonymous_users_go_to_the_login_page(client, name, args):
    response = client.get(reverse(name, args=args))
    assert response.status_code == 302
    assert response["Location"].startswith("/connexion/?next=")


@pytest.mark.parametrize(
    "name, args",
    [
        ("patients:list", []),
        ("patients:create", []),
        ("patients:detail", ["pk"]),
        ("patients:edit", ["pk"]),
        ("patients:planning", []),
        ("patients:lookup", []),
        ("patients:appointment_create", []),
    ],
)
def test_a_user_without_a_role_gets_the_403_page(client, name, args):
    patient = PatientFactory()
    client.force_login(UserFactory(username="stagiaire"))
    response = client.get(reverse(name, args=[patient.pk if a == "pk" else a for a in args]))
    assert response.status_code == 403
    assert "Accès refusé" in page_text(response)


def test_a_read_only_user_sees_the_file_but_cannot_change_it(client):
    patient = PatientFactory()
    user = UserFactory(username="lecture")
    user.user_permissions.add(Permission.objects.get(codename="view_patient"))
    client.force_login(user)
    detail = client.get(patient.get_absolute_url())
    assert detail.status_code == 200
    assert "Modifier la fiche" not in page_text(detail)
    assert client.get(reverse("patients:edit", args=[patient.pk])).status_code == 403
    assert client.post(reverse("patients:edit", args=[patient.pk]), patient_post()).status_code == 403
    assert client.post(reverse("patients:family_member_create", args=[patient.pk]), {}).status_code == 403
    patient.refresh_from_db()
    assert patient.last_name == "Ablirant"


def test_practitioners_and_administrators_may_edit(client, praticien_user, admin_user):
    patient = PatientFactory()
    for user in (praticien_user, admin_user):
        client.force_login(user)
        assert client.get(reverse("patients:edit", args=[patient.pk])).status_code == 200


def test_unknown_patient_is_a_404(assistant_client):
    assert assistant_client.get(reverse("patients:detail", args=[999999])).status_code == 404
    assert not Guardian.objects.exists()
