"""API endpoints of the quality app (API.md "Quality management"): /api/v1/quality/..."""

from django.urls import path

from quality.api import views

urlpatterns = [
    path("quality/sops/", views.SOPListView.as_view(), name="api-quality-sops"),
    path("quality/trainings/", views.TrainingListView.as_view(), name="api-quality-trainings"),
    path("quality/equipment/", views.EquipmentListView.as_view(), name="api-quality-equipment"),
    path("quality/equipment/<int:pk>/", views.EquipmentDetailView.as_view(), name="api-quality-equipment-detail"),
    path("quality/equipment/<int:pk>/calibrations/", views.CalibrationListView.as_view(),
         name="api-quality-calibrations"),
    path("quality/materials/", views.MaterialListView.as_view(), name="api-quality-materials"),
    path("quality/materials/<int:pk>/release/", views.MaterialReleaseView.as_view(), name="api-quality-release"),
    path("quality/materials/<int:pk>/reject/", views.MaterialRejectView.as_view(), name="api-quality-reject"),
    path("quality/materials/<int:pk>/trace/", views.MaterialTraceView.as_view(), name="api-quality-trace"),
    path("quality/cleanrooms/", views.CleanroomListView.as_view(), name="api-quality-cleanrooms"),
    path("quality/cleanrooms/<int:pk>/results/", views.EnvironmentResultListView.as_view(),
         name="api-quality-environment-results"),
]
