"""Pages of the containers app (the engine is chosen with ``?engine=``; the default engine otherwise)."""

from django.urls import path

from containers import views

app_name = "containers"

urlpatterns = [
    path("", views.index, name="index"),
    path("engines/add/", views.engine_create, name="engine-create"),
    path("engines/<str:name>/default/", views.engine_default, name="engine-default"),
    path("engines/<str:name>/delete/", views.engine_delete, name="engine-delete"),
    path("domains/<str:domain>/logs/", views.domain_logs, name="domain-logs"),
    path("domains/<str:domain>/logs/follow/", views.domain_logs_follow, name="domain-logs-follow"),
    path("c/<str:ref>/", views.detail, name="detail"),
    path("c/<str:ref>/logs/", views.logs, name="logs"),
    path("c/<str:ref>/logs/download/", views.logs_download, name="logs-download"),
    path("c/<str:ref>/logs/follow/", views.logs_follow, name="logs-follow"),
    path("c/<str:ref>/env/", views.reveal_env, name="env"),
    path("c/<str:ref>/<str:name>/", views.action, name="action"),
]
