"""Pages of the transplant app."""

from django.urls import path  # noqa: F401

app_name = "transplant"
urlpatterns: list = []
