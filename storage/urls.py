"""Pages of the storage app."""

app_name = "storage"
urlpatterns: list = []
