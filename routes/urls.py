"""Pages of the routes app."""

from django.urls import path

from routes import npm_views, publish_views, views

app_name = "routes"

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
    path("plan/", publish_views.plan_page, name="plan"),
    path("plan/apply/", publish_views.apply_view, name="apply"),
    path("revisions/", publish_views.revisions_page, name="revisions"),
    path("revisions/diff/", publish_views.revision_diff_page, name="revision-diff"),
    path("revisions/<int:revision_id>/", publish_views.revision_page, name="revision"),
    path("revisions/<int:revision_id>/rollback/", publish_views.rollback_view, name="rollback"),
    path("npm/", npm_views.npm_page, name="npm"),
    path("npm/hosts/", npm_views.npm_hosts, name="npm-hosts"),
    path("npm/settings/", npm_views.npm_settings, name="npm-settings"),
    path("npm/import/", npm_views.npm_import, name="npm-import"),
    path("npm/hosts/<int:host_id>/adopt/", npm_views.npm_adopt, name="npm-adopt"),
]
