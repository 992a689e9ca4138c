"""Pages of the cordblood app."""

from django.urls import path

from cordblood import views

app_name = "cordblood"
urlpatterns = [
    path("", views.unit_list, name="units"),
    path("units/<int:pk>/", views.unit_detail, name="unit"),
    path("units/<int:pk>/report.pdf", views.unit_report, name="unit-report"),
    path("units/<int:pk>/accept/", views.unit_accept, name="unit-accept"),
    path("units/<int:pk>/discard/", views.unit_discard, name="unit-discard"),
    path("units/<int:pk>/divert/", views.unit_divert, name="unit-divert"),
    path("units/<int:pk>/processing/", views.unit_processing, name="unit-processing"),
    path("units/<int:pk>/freeze/", views.unit_freeze, name="unit-freeze"),
    path("units/<int:pk>/listing/", views.unit_listing, name="unit-listing"),
    path("units/<int:pk>/contract/", views.unit_contract, name="unit-contract"),
    path("contracts/<int:pk>/payments/", views.contract_payment, name="contract-payment"),
    path("contracts/<int:pk>/release-request/", views.contract_release_request, name="contract-release-request"),
    path("contracts/<int:pk>/donate/", views.contract_donate, name="contract-donate"),
    path("discards/", views.discards, name="discards"),
    path("donations/", views.donation_list, name="donations"),
    path("mothers/new/", views.mother_new, name="mother-new"),
    path("mothers/<int:pk>/", views.mother_detail, name="mother"),
    path("mothers/<int:pk>/donations/new/", views.donation_new, name="donation-new"),
    path("sites/", views.site_list, name="sites"),
    path("sites/<int:pk>/", views.site_detail, name="site"),
]
