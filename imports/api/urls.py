"""API endpoints of the imports app: /api/v1/imports/..."""

from django.urls import path

from imports.api import views

urlpatterns = [
    path("imports/runs/", views.RunListView.as_view(), name="api-import-runs"),
    path("imports/runs/<int:pk>/", views.RunDetailView.as_view(), name="api-import-run"),
    path("imports/<str:kind>/template/", views.TemplateView.as_view(), name="api-import-template"),
    path("imports/<str:kind>/", views.ImportView.as_view(), name="api-import"),
]
