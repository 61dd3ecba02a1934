from django.urls import path

from . import views

app_name = "identities"

urlpatterns = [
    path("inventory/", views.inventory, name="inventory"),
]
