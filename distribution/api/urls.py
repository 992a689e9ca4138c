"""API endpoints of the distribution app (see ../shared/API.md)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from distribution.api import views

router = SimpleRouter()
router.register("requests", views.RequestViewSet, basename="api-request")
router.register("recalls", views.RecallViewSet, basename="api-recall")

urlpatterns = [
    path("catalog/", views.CatalogView.as_view(), name="api-catalog"),
    path("catalog/<int:pk>/", views.CatalogEntryView.as_view(), name="api-catalog-entry"),
    path("mta/", views.MTAView.as_view(), name="api-mta"),
    path("requests/<int:pk>/quotation.pdf", views.QuotationView.as_view(), name="api-request-quotation"),
    path("institution-profile/", views.InstitutionProfileView.as_view(), name="api-institution-profile"),
    path("trace/vials/<str:barcode>/", views.TraceVialView.as_view(), name="api-trace-vial"),
    path("trace/donors/<int:pk>/", views.TraceDonorView.as_view(), name="api-trace-donor"),
    path("trace/lots/<int:pk>/", views.TraceLotView.as_view(), name="api-trace-lot"),
    path("lots/<int:pk>/recall/", views.LotRecallView.as_view(), name="api-lot-recall"),
    *router.urls,
]
