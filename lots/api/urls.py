"""API endpoints of the lots app (see ../shared/API.md)."""

urlpatterns: list = []
