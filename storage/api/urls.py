"""API endpoints of the storage app (see ../shared/API.md)."""

urlpatterns: list = []
