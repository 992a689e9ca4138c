"""Pages of the storage app."""

from django.urls import path

from storage import views

app_name = "storage"
urlpatterns = [
    path("", views.index, name="index"),
    path("units/new/", views.unit_create, name="unit_create"),
    path("units/<int:pk>/", views.unit_detail, name="unit"),
    path("units/<int:pk>/edit/", views.unit_edit, name="unit_edit"),
    path("units/<int:pk>/racks/new/", views.rack_create, name="rack_create"),
    path("units/<int:pk>/evacuate/", views.evacuate, name="evacuate"),
    path("racks/<int:pk>/", views.rack_detail, name="rack"),
    path("racks/<int:pk>/boxes/new/", views.box_create, name="box_create"),
    path("boxes/<int:pk>/", views.box_detail, name="box"),
    path("boxes/<int:pk>/move/", views.box_move, name="box_move"),
    path("move/", views.move_vial, name="move"),
    path("batch-move/", views.batch_move, name="batch_move"),
    path("rack-scan/", views.rack_scan, name="rack_scan"),
    path("rack-scan/store/", views.rack_scan_store, name="rack_scan_store"),
    path("racks/<int:pk>/move/", views.rack_move, name="rack_move"),
    path("store/", views.store, name="store"),
    path("lots/<int:pk>/store/", views.store_lot, name="store_lot"),
    path("lots/<int:pk>/relocate/", views.relocate_lot, name="relocate_lot"),
    path("alarms/", views.alarm_list, name="alarms"),
    path("alarms/<int:pk>/", views.alarm_detail, name="alarm"),
]
