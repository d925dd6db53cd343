"""The accounts pages, login and logout (names stay un-namespaced: templates say {% url 'tokens' %})."""

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

urlpatterns = [
    path("tokens/", views.tokens, name="tokens"),
    path("users/", views.users, name="users"),
    path("users/<str:username>/", views.user_update, name="user-update"),
    path("tokens/<int:token_id>/revoke/", views.revoke_token, name="revoke-token"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
