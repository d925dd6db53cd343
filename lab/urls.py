"""The lab guide page (its name stays un-namespaced: templates say {% url 'lab' %})."""

from django.urls import path

from lab import views

urlpatterns = [
    path("lab/", views.lab_guide, name="lab"),
]
