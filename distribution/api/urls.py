"""API endpoints of the distribution app (see ../shared/API.md)."""

urlpatterns: list = []
