"""The audit log page (its names stay un-namespaced: templates say {% url 'audit' %})."""

from django.urls import path

from core import views

urlpatterns = [
    path("audit/", views.audit_log, name="audit"),
]
