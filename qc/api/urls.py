"""API endpoints of the qc app (see ../shared/API.md, "QC and release")."""

from django.urls import path

from qc.api import views

urlpatterns = [
    path("qc/tests/", views.QCTestListView.as_view(), name="api-qc-tests"),
    path("qc/specifications/", views.SpecificationListView.as_view(), name="api-qc-specifications"),
    path("qc/specifications/<int:pk>/", views.SpecificationDetailView.as_view(), name="api-qc-specification"),
    path("qc/rechecks/", views.RecheckListView.as_view(), name="api-qc-rechecks"),
    path("qc/rechecks/<int:pk>/result/", views.RecheckResultView.as_view(), name="api-qc-recheck-result"),
    path("qc/deviations/", views.DeviationListView.as_view(), name="api-qc-deviations"),
    path("qc/deviations/<int:pk>/", views.DeviationDetailView.as_view(), name="api-qc-deviation"),
    path("qc/deviations/<int:pk>/close/", views.DeviationCloseView.as_view(), name="api-qc-deviation-close"),
    path("lots/<int:pk>/qc-results/", views.LotResultsView.as_view(), name="api-lot-qc-results"),
    path("lots/<int:pk>/release-readiness/", views.ReadinessView.as_view(), name="api-lot-release-readiness"),
    path("lots/<int:pk>/decisions/", views.LotDecisionListView.as_view(), name="api-lot-decisions"),
    path("lots/<int:pk>/release/", views.ReleaseView.as_view(), name="api-lot-release"),
    path("lots/<int:pk>/reject/", views.RejectView.as_view(), name="api-lot-reject"),
    path("lots/<int:pk>/lift-hold/", views.LiftHoldView.as_view(), name="api-lot-lift-hold"),
    path("lots/<int:pk>/certificate.pdf", views.CertificateView.as_view(), name="api-lot-certificate"),
    path("lots/<int:pk>/stability-plan/", views.StabilityPlanView.as_view(), name="api-lot-stability-plan"),
]
