"""API endpoints of the haplobank app (API.md "Haplobank"): /api/v1/hla/..."""

from django.urls import path

from haplobank.api import views

urlpatterns = [
    path("hla/populations/", views.PopulationListView.as_view(), name="api-hla-populations"),
    path("hla/populations/<int:pk>/", views.PopulationDetailView.as_view(), name="api-hla-population"),
    path("hla/populations/<int:pk>/haplotypes/", views.HaplotypeUploadView.as_view(), name="api-hla-haplotypes"),
    path("hla/populations/<int:pk>/genotypes/", views.GenotypeUploadView.as_view(), name="api-hla-genotypes"),
    path("hla/coverage/", views.CoverageView.as_view(), name="api-hla-coverage"),
    path("hla/coverage/simulate/", views.SimulateView.as_view(), name="api-hla-simulate"),
    path("hla/match/", views.MatchView.as_view(), name="api-hla-match"),
    path("hla/recruitment/", views.RecruitmentView.as_view(), name="api-hla-recruitment"),
]
