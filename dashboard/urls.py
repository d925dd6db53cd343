"""URL map: the pages of each app, the API at /api/v1/, login and logout."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from dashboard import views
from dashboard.api import api

urlpatterns = [
    path("", views.overview, name="overview"),
    path("overview/topology.svg", views.topology_svg, name="topology"),
    path("lab/", views.lab_guide, name="lab"),
    path("tokens/", views.tokens, name="tokens"),
    path("users/", views.users, name="users"),
    path("users/<str:username>/", views.user_update, name="user-update"),
    path("tokens/<int:token_id>/revoke/", views.revoke_token, name="revoke-token"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("core.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("routes/", include("routes.urls")),
    path("containers/", include("containers.urls")),
    path("api/v1/", api.urls),
]
