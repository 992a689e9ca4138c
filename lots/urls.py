"""Pages of the lots app."""

app_name = "lots"
urlpatterns: list = []
