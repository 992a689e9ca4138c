"""Pages of the cordblood app."""

from django.urls import path  # noqa: F401

app_name = "cordblood"
urlpatterns: list = []
