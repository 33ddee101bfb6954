"""The admin pages of particular (@PART_nn) and free (@LIBRE_nn) fields: the number."""

import pytest
from django.apps import apps

PAGES = ["particularfield", "freefield"]


@pytest.mark.django_db
@pytest.mark.parametrize("model_name", PAGES)
def test_emptying_the_number_of_an_existing_field_is_a_french_error_not_a_500(admin_client, model_name):
    model = apps.get_model("messaging", model_name)
    field = model.objects.create(number=7, label="Né")
    url = f"/admin/messaging/{model_name}/{field.pk}/change/"

    response = admin_client.post(url, {"number": "", "label": ""})
    assert response.status_code == 200
    assert "Indiquez un numéro de 1 à 99" in response.content.decode()

    response = admin_client.post(url, {"number": "", "label": "Née"})
    assert response.status_code == 200
    assert "Indiquez un numéro de 1 à 99" in response.content.decode()
    assert list(model.objects.values_list("number", "label")) == [(7, "Né")], "nothing saved, no duplicate"


@pytest.mark.django_db
@pytest.mark.parametrize("model_name", PAGES)
def test_a_new_field_left_without_a_number_gets_the_next_free_one(admin_client, model_name):
    model = apps.get_model("messaging", model_name)
    model.objects.create(number=1, label="Premier")
    response = admin_client.post(f"/admin/messaging/{model_name}/add/", {"number": "", "label": ""})
    assert response.status_code == 200  # the missing label is reported, no 500
    response = admin_client.post(f"/admin/messaging/{model_name}/add/", {"number": "", "label": "Second"})
    assert response.status_code == 302
    assert model.objects.get(label="Second").number == 2
