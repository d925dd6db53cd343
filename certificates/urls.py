"""Pages of the certificates app."""

from django.urls import path

from certificates import views

app_name = "certificates"

urlpatterns = [
    path("", views.index, name="index"),
    path("request/", views.request_certificate, name="request"),
    path("upload/", views.upload_certificate, name="upload"),
    path("<int:cert_id>/", views.detail, name="detail"),
    path("<int:cert_id>/renew/", views.renew, name="renew"),
    path("<int:cert_id>/delete/", views.delete, name="delete"),
]
