"""Pages of publishing: plan and apply, revisions, NPM (mounted under /routes/ with the routes pages, namespace
"routes", by dashboard/urls.py)."""

from django.urls import path

from publishing.views import npm, revisions

urlpatterns = [
    path("plan/", revisions.plan_page, name="plan"),
    path("plan/apply/", revisions.apply_view, name="apply"),
    path("revisions/", revisions.revisions_page, name="revisions"),
    path("revisions/diff/", revisions.revision_diff_page, name="revision-diff"),
    path("revisions/<int:revision_id>/", revisions.revision_page, name="revision"),
    path("revisions/<int:revision_id>/rollback/", revisions.rollback_view, name="rollback"),
    path("npm/", npm.npm_page, name="npm"),
    path("npm/hosts/", npm.npm_hosts, name="npm-hosts"),
    path("npm/settings/", npm.npm_settings, name="npm-settings"),
    path("npm/import/", npm.npm_import, name="npm-import"),
    path("npm/hosts/<int:host_id>/adopt/", npm.npm_adopt, name="npm-adopt"),
]
