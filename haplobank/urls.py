"""Pages of the haplobank app (/haplobank/...)."""

from django.urls import path

from haplobank import views

app_name = "haplobank"
urlpatterns = [
    path("", views.coverage, name="coverage"),
    path("planning/", views.planning, name="planning"),
    path("recruitment/", views.recruitment, name="recruitment"),
    path("populations/", views.populations, name="populations"),
    path("populations/<int:pk>/", views.population, name="population"),
    path("populations/<int:pk>/haplotypes/", views.upload_haplotypes, name="upload-haplotypes"),
    path("populations/<int:pk>/genotypes/", views.upload_genotypes, name="upload-genotypes"),
    path("match/", views.match, name="match"),
]
