from django.urls import path

from . import link_views, views

app_name = "reviews"

urlpatterns = [
    path("", views.my_reviews, name="my_reviews"),
    path("l/<str:token>/", link_views.link, name="link"),
    path("campaigns/", views.campaigns, name="campaigns"),
    path("campaigns/new/", views.campaign_new, name="campaign_new"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="campaign_detail"),
    path("campaigns/<int:pk>/edit/", views.campaign_edit, name="campaign_edit"),
    path("campaigns/<int:pk>/pause/", views.campaign_pause, name="campaign_pause"),
    path("campaigns/<int:pk>/resume/", views.campaign_resume, name="campaign_resume"),
    path("cycles/<int:pk>/", views.cycle_detail, name="cycle_detail"),
    path("cycles/<int:pk>/stop/", views.cycle_stop, name="cycle_stop"),
    path("cycles/<int:pk>/reset/", views.cycle_reset, name="cycle_reset"),
    path("cycles/<int:pk>/remind/", views.cycle_remind, name="cycle_remind"),
    path("cycles/<int:pk>/apply/", views.cycle_apply, name="cycle_apply"),
    path("cycles/<int:pk>/retry/", views.cycle_retry, name="cycle_retry"),
    path("cycles/<int:pk>/results/", views.results, name="results"),
    path("cycles/<int:pk>/results.csv", views.results_csv, name="results_csv"),
    path("cycles/<int:pk>/queue/", views.queue, name="queue"),
    path("cycles/<int:pk>/accept-all/", views.accept_all, name="accept_all"),
    path("items/<int:pk>/decide/", views.decide, name="decide"),
    path("audit/", views.audit, name="audit"),
    path("audit/export.csv", views.audit_csv, name="audit_csv"),
]
