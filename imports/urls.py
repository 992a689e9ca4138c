"""Pages of the imports app (/imports/...)."""

from django.urls import path

from imports import views

app_name = "imports"
urlpatterns = [
    path("", views.index, name="index"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/errors.csv", views.run_errors, name="run-errors"),
    path("templates/<str:kind>.<str:fmt>", views.template, name="template"),
]
