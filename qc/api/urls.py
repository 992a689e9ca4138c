"""API endpoints of the qc app (see ../shared/API.md)."""

urlpatterns: list = []
