"""Pages of the distribution app."""

from django.urls import path

from distribution import views

app_name = "distribution"
urlpatterns = [
    path("catalog/", views.catalog, name="catalog"),
    path("catalog/<int:pk>/", views.catalog_line, name="catalog-line"),
    path("catalog/<int:pk>/request/", views.request_new, name="request-new"),
    path("catalog/<int:pk>/request/fee/", views.request_fee, name="request-fee"),
    path("institution/", views.institution_profile, name="institution-profile"),
    path("mta/", views.mta_list, name="mta"),
    path("fees/", views.fees, name="fees"),
    path("requests/", views.request_list, name="requests"),
    path("requests/<int:pk>/", views.request_detail, name="request"),
    path("requests/<int:pk>/approve/", views.request_approve, name="request-approve"),
    path("requests/<int:pk>/reject/", views.request_reject, name="request-reject"),
    path("requests/<int:pk>/cancel/", views.request_cancel, name="request-cancel"),
    path("requests/<int:pk>/export-approval/", views.request_export_approval, name="request-export-approval"),
    path("export-approvals/<int:pk>/document/", views.export_approval_document, name="export-approval-document"),
    path("requests/<int:pk>/quotation.pdf", views.request_quotation, name="request-quotation"),
    path("requests/<int:pk>/receive/", views.request_receive, name="request-receive"),
    path("requests/<int:pk>/pick/", views.pick, name="pick"),
    path("requests/<int:pk>/ship/", views.ship, name="ship"),
    path("trace/", views.trace_search, name="trace"),
    path("trace/vials/<str:barcode>/", views.trace_vial, name="trace-vial"),
    path("trace/donors/<int:pk>/", views.trace_donor, name="trace-donor"),
    path("trace/lots/<int:pk>/", views.trace_lot, name="trace-lot"),
    path("recalls/", views.recall_list, name="recalls"),
    path("recalls/<int:pk>/", views.recall_detail, name="recall"),
    path("lots/<int:pk>/recall/", views.lot_recall, name="lot-recall"),
]
