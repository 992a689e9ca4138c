"""Pages of the donors app (under /donors/)."""

from django.urls import path

from donors import views

app_name = "donors"
urlpatterns = [
    path("", views.donor_list_page, name="list"),
    path("new/", views.donor_create, name="create"),
    path("<int:pk>/", views.donor_detail, name="detail"),
    path("<int:pk>/edit/", views.donor_edit, name="edit"),
    path("<int:pk>/erase-identity/", views.identity_erase, name="identity-erase"),
    path("<int:pk>/consents/new/", views.consent_create, name="consent-create"),
    path("<int:pk>/screenings/new/", views.screening_create, name="screening-create"),
    path("<int:pk>/hla/", views.hla_edit, name="hla"),
    path("consents/<int:pk>/withdraw/", views.consent_withdraw, name="consent-withdraw"),
    path("results/<int:pk>/correct/", views.result_correct, name="result-correct"),
    path("collections/", views.collection_list, name="collections"),
    path("collections/new/", views.collection_create, name="collection-create"),
    path("collections/<int:pk>/", views.collection_detail, name="collection"),
    path("collections/<int:pk>/handovers/new/", views.handover_create, name="handover-create"),
    path("ethics/", views.ethics_list, name="ethics"),
    path("ethics/new/", views.ethics_create, name="ethics-create"),
    path("ethics/<int:pk>/edit/", views.ethics_edit, name="ethics-edit"),
    path("ethics/<int:pk>/withdraw/", views.ethics_withdraw, name="ethics-withdraw"),
    path("panel/", views.panel_page, name="panel"),
    path("panel/markers/<int:pk>/", views.marker_edit, name="marker-edit"),
    path("panel/windows/", views.window_edit, name="window-edit"),
    path("import/", views.import_page, name="import"),
    path("import/template.csv", views.import_template, name="import-template"),
]
