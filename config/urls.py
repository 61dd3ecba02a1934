from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from reviews import views as review_views

urlpatterns = [
    path("", review_views.home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("identities.urls")),
    path("reviews/", include("reviews.urls")),
]
