"""Pages of the qc app."""

from django.urls import path

from qc import views

app_name = "qc"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("results/", views.results_home, name="results"),
    path("lots/<int:pk>/results/", views.lot_results, name="lot-results"),
    path("lots/<int:pk>/review/", views.review, name="review"),
    path("lots/<int:pk>/release/", views.release, name="release"),
    path("lots/<int:pk>/reject/", views.reject, name="reject"),
    path("lots/<int:pk>/lift-hold/", views.lift_hold, name="lift-hold"),
    path("lots/<int:pk>/stability-plan/", views.stability_plan, name="stability-plan"),
    path("lots/<int:pk>/certificate.pdf", views.certificate, name="certificate"),
    path("deviations/", views.deviations, name="deviations"),
    path("deviations/<int:pk>/", views.deviation, name="deviation"),
    path("deviations/<int:pk>/close/", views.close_deviation, name="close-deviation"),
    path("rechecks/", views.rechecks, name="rechecks"),
    path("rechecks/<int:pk>/result/", views.recheck_result, name="recheck-result"),
    path("specifications/", views.specifications, name="specifications"),
    path("tests/", views.catalog_tests, name="tests"),
    path("specifications/<int:pk>/", views.specification, name="specification"),
    path("specifications/<int:pk>/publish/", views.publish, name="publish"),
]
