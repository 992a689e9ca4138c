"""API endpoints of the donors app (see ../shared/API.md, "Donors")."""

from django.urls import path

from donors.api import views

urlpatterns = [
    path("donors/", views.DonorListView.as_view(), name="api-donors"),
    path("donors/import/", views.DonorImportView.as_view(), name="api-donors-import"),
    path("donors/<int:pk>/", views.DonorDetailView.as_view(), name="api-donor"),
    path("donors/<int:pk>/erase-identity/", views.DonorEraseIdentityView.as_view(), name="api-donor-erase-identity"),
    path("donors/<int:pk>/consents/", views.DonorConsentsView.as_view(), name="api-donor-consents"),
    path("donors/<int:pk>/screenings/", views.DonorScreeningsView.as_view(), name="api-donor-screenings"),
    path("donors/<int:pk>/hla/", views.DonorHLAView.as_view(), name="api-donor-hla"),
    path("donors/<int:pk>/derived-lots/", views.DonorDerivedLotsView.as_view(), name="api-donor-derived-lots"),
    path("consents/<int:pk>/", views.ConsentDetailView.as_view(), name="api-consent"),
    path("consents/<int:pk>/withdraw/", views.ConsentWithdrawView.as_view(), name="api-consent-withdraw"),
    path("screening-results/<int:pk>/correct/", views.ResultCorrectView.as_view(), name="api-result-correct"),
    path("screening-markers/", views.ScreeningMarkerListView.as_view(), name="api-screening-markers"),
    path("screening-windows/", views.ScreeningWindowListView.as_view(), name="api-screening-windows"),
    path("collections/", views.CollectionListView.as_view(), name="api-collections"),
    path("collections/<int:pk>/", views.CollectionDetailView.as_view(), name="api-collection"),
    path("collections/<int:pk>/handovers/", views.CollectionHandoversView.as_view(), name="api-collection-handovers"),
    path("ethics-approvals/", views.EthicsApprovalListView.as_view(), name="api-ethics-approvals"),
    path("ethics-approvals/<int:pk>/", views.EthicsApprovalDetailView.as_view(), name="api-ethics-approval"),
    path("ethics-approvals/<int:pk>/withdraw/", views.EthicsApprovalWithdrawView.as_view(),
         name="api-ethics-approval-withdraw"),
]
