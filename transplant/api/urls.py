"""API endpoints of the transplant app (see ../shared/API.md)."""

urlpatterns: list = []
