"""API routes of the registry export and the public catalog feed (issue 15; distribution/registry_api.py)."""

from django.urls import path

from distribution import registry_api

urlpatterns = [
    path("cell-lines/<int:pk>/registry/", registry_api.RegistryRecordView.as_view(), name="api-cell-line-registry"),
    path("public/catalog/", registry_api.PublicCatalogView.as_view(), name="api-public-catalog"),
]
