"""Pages of the routes app (dashboard/urls.py mounts them with publishing's under /routes/, namespace "routes")."""

from django.urls import path

from routes import views

urlpatterns = [
    path("", views.index, name="index"),
    path("domains/new/", views.domain_create, name="domain-create"),
    path("domains/validate/", views.domain_validate, name="domain-validate"),
    path("domains/<int:domain_id>/", views.domain_detail, name="domain"),
    path("domains/<int:domain_id>/toggle/", views.domain_toggle, name="domain-toggle"),
    path("domains/<int:domain_id>/delete/", views.domain_delete, name="domain-delete"),
    path("domains/<int:domain_id>/notes/", views.domain_notes, name="domain-notes"),
    path("domains/<int:domain_id>/https/", views.domain_https, name="domain-https"),
    path("domains/<int:domain_id>/routes/new/", views.route_create, name="route-create"),
    path("domains/<int:domain_id>/routes/validate/", views.route_create_validate, name="route-create-validate"),
    path("<int:route_id>/", views.route_detail, name="route"),
    path("<int:route_id>/edit/", views.route_edit, name="route-edit"),
    path("<int:route_id>/validate/", views.route_validate, name="route-validate"),
    path("<int:route_id>/toggle/", views.route_toggle, name="route-toggle"),
    path("<int:route_id>/delete/", views.route_delete, name="route-delete"),
]
