from django.urls import path

from . import views

app_name = "identities"

urlpatterns = [
    path("inventory/", views.inventory, name="inventory"),
    path("inventory/export.csv", views.inventory_export, name="inventory_export"),
    path("principals/<int:pk>/", views.principal_detail, name="principal"),
    path("sync/", views.sync, name="sync"),
    path("sync/progress/", views.sync_progress, name="sync_progress"),
    path("sync/start/", views.sync_start, name="sync_start"),
]
