"""Pages of the distribution app."""

app_name = "distribution"
urlpatterns: list = []
