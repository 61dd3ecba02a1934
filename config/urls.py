from django.contrib import admin
from django.urls import include, path

from accounts import auth_views
from config import views as config_views
from reviews import views as review_views

# A database failure outside any view (a session saved after the page) is a 503 too.
handler500 = "config.database.server_error"

urlpatterns = [
    path("", review_views.home, name="home"),
    path("overview/", review_views.overview, name="overview"),
    path("healthz", config_views.healthz, name="healthz"),
    path("accounts/login/", auth_views.PasswordLoginView.as_view(), name="login"),
    path("accounts/signin/", auth_views.signin_start, name="signin"),
    path("accounts/signin/callback/", auth_views.signin_callback, name="signin_callback"),
    path("accounts/logout/", auth_views.signout, name="logout"),
    path("accounts/signed-out/", auth_views.signed_out, name="signed_out"),
    path("admin/", admin.site.urls),
    path("", include("identities.urls")),
    path("reviews/", include("reviews.urls")),
]
