"""Pages of the qc app."""

app_name = "qc"
urlpatterns: list = []
