"""Pages of the containers app."""

app_name = "containers"

urlpatterns: list = []
