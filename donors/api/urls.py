"""API endpoints of the donors app (see ../shared/API.md)."""

urlpatterns: list = []
