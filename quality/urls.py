"""Pages of the quality app (/quality/...)."""

from django.urls import path

from quality import views

app_name = "quality"
urlpatterns = [
    path("", views.matrix, name="matrix"),
    path("sops/", views.sops, name="sops"),
    path("sops/<int:pk>/", views.sop, name="sop"),
    path("equipment/", views.equipment, name="equipment"),
    path("equipment/<int:pk>/", views.equipment_detail, name="equipment-detail"),
    path("materials/", views.materials, name="materials"),
    path("materials/<int:pk>/", views.material, name="material"),
    path("environment/", views.environment, name="environment"),
]
