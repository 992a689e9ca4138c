"""Pages of the donors app."""

app_name = "donors"
urlpatterns: list = []
