"""API endpoints of the labels app: /api/v1/labels/... and /api/v1/printer-profiles/."""

from django.urls import path

from labels.api import views

urlpatterns = [
    path("labels/vials/", views.VialLabelsView.as_view(), name="api-labels-vials"),
    path("labels/boxes/", views.BoxLabelsView.as_view(), name="api-labels-boxes"),
    path("labels/lots/", views.LotLabelsView.as_view(), name="api-labels-lots"),
    path("printer-profiles/", views.PrinterProfileListView.as_view(), name="api-printer-profiles"),
    path("printer-profiles/<int:pk>/", views.PrinterProfileDetailView.as_view(), name="api-printer-profile"),
]
