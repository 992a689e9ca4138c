"""API endpoints of the storage app (see ../shared/API.md)."""

from django.urls import path

from storage.api import views

urlpatterns = [
    path("storage/units/", views.UnitListView.as_view(), name="api-storage-units"),
    path("storage/units/<int:pk>/", views.UnitDetailView.as_view(), name="api-storage-unit"),
    path("storage/units/<int:pk>/racks/", views.UnitRacksView.as_view(), name="api-storage-unit-racks"),
    path("storage/units/<int:pk>/readings/", views.UnitReadingsView.as_view(), name="api-storage-unit-readings"),
    path("storage/units/<int:pk>/evacuate/", views.UnitEvacuateView.as_view(), name="api-storage-unit-evacuate"),
    path("storage/units/<int:pk>/sensors/", views.UnitSensorsView.as_view(), name="api-storage-unit-sensors"),
    path("storage/racks/", views.RackListView.as_view(), name="api-storage-racks"),
    path("storage/racks/<int:pk>/", views.RackDetailView.as_view(), name="api-storage-rack"),
    path("storage/racks/<int:pk>/move/", views.RackMoveView.as_view(), name="api-storage-rack-move"),
    path("storage/rack-scans/", views.RackScanView.as_view(), name="api-storage-rack-scans"),
    path("storage/rack-scans/store/", views.RackScanStoreView.as_view(), name="api-storage-rack-scans-store"),
    path("storage/racks/<int:pk>/boxes/", views.RackBoxesView.as_view(), name="api-storage-rack-boxes"),
    path("storage/boxes/", views.BoxListView.as_view(), name="api-storage-boxes"),
    path("storage/boxes/<int:pk>/", views.BoxDetailView.as_view(), name="api-storage-box"),
    path("storage/boxes/<int:pk>/map/", views.BoxMapView.as_view(), name="api-storage-box-map"),
    path("storage/boxes/<int:pk>/move/", views.BoxMoveView.as_view(), name="api-storage-box-move"),
    path("storage/find-space/", views.FindSpaceView.as_view(), name="api-storage-find-space"),
    path("storage/vials/<int:pk>/moves/", views.VialCustodyView.as_view(), name="api-storage-vial-moves"),
    path("storage/alarms/", views.AlarmListView.as_view(), name="api-storage-alarms"),
    path("storage/alarms/<int:pk>/", views.AlarmDetailView.as_view(), name="api-storage-alarm"),
    path("storage/alarms/<int:pk>/acknowledge/", views.AlarmAcknowledgeView.as_view(),
         name="api-storage-alarm-acknowledge"),
    path("lots/<int:pk>/store/", views.LotStoreView.as_view(), name="api-lot-store"),
    path("vials/<int:pk>/move/", views.VialMoveView.as_view(), name="api-vial-move"),
    path("vials/batch-move/", views.BatchMoveView.as_view(), name="api-vials-batch-move"),
]
