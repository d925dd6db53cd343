"""URL map: the overview, the pages of each app, the API at /api/v1/."""

from django.contrib.auth.decorators import login_not_required
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

import publishing.urls
import routes.urls
from dashboard import views
from dashboard.api import api

urlpatterns = [
    path("", views.overview, name="overview"),
    path("overview/topology.svg", views.topology_svg, name="topology"),
    # Browsers ask for /favicon.ico where a document names no icon (the SVG file, the API docs).
    path("favicon.ico", login_not_required(RedirectView.as_view(url=static("portico/favicon.svg"))), name="favicon"),
    path("", include("lab.urls")),
    path("", include("accounts.urls")),
    path("", include("core.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    # The routes pages and publishing's (plan, revisions, NPM) share /routes/ and the "routes" URL names.
    path("routes/", include((routes.urls.urlpatterns + publishing.urls.urlpatterns, "routes"))),
    path("containers/", include("containers.urls")),
    path("certificates/", include("certificates.urls")),
    path("api/v1/", api.urls),
]
