"""Label pages (/labels/...)."""

from django.urls import path

from labels import views

app_name = "labels"
urlpatterns = [
    path("", views.vials, name="vials"),
    path("boxes/", views.boxes, name="boxes"),
    path("lots/<int:pk>/", views.lot, name="lot"),
    path("printers/", views.printers_list, name="printers"),
    path("printers/new/", views.printer_edit, name="printer_create"),
    path("printers/defaults/", views.printers_seed, name="printers_seed"),
    path("printers/<int:pk>/", views.printer_edit, name="printer_edit"),
    path("printers/<int:pk>/active/", views.printer_active, name="printer_active"),
]
