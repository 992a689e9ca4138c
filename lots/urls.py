"""Pages of the lots app."""

from django.urls import path

from lots import views

app_name = "lots"
urlpatterns = [
    path("", views.lot_list, name="lot_list"),
    path("new/", views.lot_create, name="lot_create"),
    path("<int:pk>/", views.lot_detail, name="lot_detail"),
    path("<int:pk>/labels.pdf", views.lot_labels_pdf, name="lot_labels_pdf"),
    path("<int:pk>/labels.zpl", views.lot_labels_zpl, name="lot_labels_zpl"),
    path("lines/", views.cellline_list, name="cellline_list"),
    path("lines/new/", views.cellline_create, name="cellline_create"),
    path("lines/<int:pk>/", views.cellline_detail, name="cellline_detail"),
    path("lines/<int:pk>/subclone/", views.cellline_subclone, name="cellline_subclone"),
    path("lines/<int:pk>/registry-ids/", views.cellline_registry_ids, name="cellline_registry_ids"),
    path("lines/<int:line_pk>/cultures/new/", views.culture_create, name="culture_create"),
    path("cultures/<int:pk>/", views.culture_detail, name="culture_detail"),
    path("vials/<int:pk>/", views.vial_detail, name="vial_detail"),
    path("vials/<int:pk>/label.svg", views.vial_label_svg, name="vial_label_svg"),
]
