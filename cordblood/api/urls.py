"""API endpoints of the cordblood app (see ../shared/API.md)."""

from django.urls import path

from cordblood.api import views

urlpatterns = [
    path("cordblood/sites/", views.SiteListView.as_view(), name="api-cb-sites"),
    path("cordblood/sites/<int:pk>/", views.SiteDetailView.as_view(), name="api-cb-site"),
    path("cordblood/sites/<int:pk>/collectors/", views.CollectorCreateView.as_view(), name="api-cb-collectors"),
    path("cordblood/mothers/", views.MotherCreateView.as_view(), name="api-cb-mothers"),
    path("cordblood/donations/", views.DonationListView.as_view(), name="api-cb-donations"),
    path("cordblood/donations/<int:pk>/", views.DonationDetailView.as_view(), name="api-cb-donation"),
    path("cordblood/donations/<int:pk>/maternal-screening/", views.MaternalScreeningView.as_view(),
         name="api-cb-maternal-screening"),
    path("cordblood/units/", views.UnitListView.as_view(), name="api-cb-units"),
    path("cordblood/units/<int:pk>/", views.UnitDetailView.as_view(), name="api-cb-unit"),
    path("cordblood/units/<int:pk>/accept/", views.AcceptView.as_view(), name="api-cb-accept"),
    path("cordblood/units/<int:pk>/discard/", views.DiscardView.as_view(), name="api-cb-discard"),
    path("cordblood/units/<int:pk>/divert/", views.DivertView.as_view(), name="api-cb-divert"),
    path("cordblood/units/<int:pk>/processing/", views.ProcessingView.as_view(), name="api-cb-processing"),
    path("cordblood/units/<int:pk>/freeze/", views.FreezeView.as_view(), name="api-cb-freeze"),
    path("cordblood/units/<int:pk>/listing/", views.ListingView.as_view(), name="api-cb-listing"),
    path("cordblood/units/<int:pk>/contract/", views.ContractCreateView.as_view(), name="api-cb-contract-new"),
    path("cordblood/contracts/<int:pk>/", views.ContractDetailView.as_view(), name="api-cb-contract"),
    path("cordblood/contracts/<int:pk>/payments/", views.PaymentView.as_view(), name="api-cb-payments"),
    path("cordblood/contracts/<int:pk>/release-request/", views.ReleaseRequestView.as_view(),
         name="api-cb-release-request"),
    path("cordblood/contracts/<int:pk>/donate/", views.DonateView.as_view(), name="api-cb-donate"),
    path("cordblood/discards/", views.DiscardCountView.as_view(), name="api-cb-discards"),
    path("cordblood/export/inventory.csv", views.InventoryExportView.as_view(), name="api-cb-export"),
]
