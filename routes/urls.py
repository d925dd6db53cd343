"""Pages of the routes app."""

app_name = "routes"

urlpatterns: list = []
