"""API endpoints of the cordblood app (see ../shared/API.md)."""

urlpatterns: list = []
