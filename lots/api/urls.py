"""API endpoints of the lots app (see ../shared/API.md)."""

from django.urls import path

from lots.api import views

urlpatterns = [
    path("cell-lines/", views.CellLineListView.as_view(), name="api-cell-lines"),
    path("cell-lines/<int:pk>/", views.CellLineDetailView.as_view(), name="api-cell-line"),
    path("cell-lines/<int:pk>/registry-ids/", views.CellLineRegistryIdsView.as_view(),
         name="api-cell-line-registry-ids"),
    path("cultures/", views.CultureListView.as_view(), name="api-cultures"),
    path("cultures/<int:pk>/", views.CultureDetailView.as_view(), name="api-culture"),
    path("cultures/<int:pk>/passages/", views.PassageCreateView.as_view(), name="api-culture-passages"),
    path("lots/", views.LotListView.as_view(), name="api-lots"),
    path("lots/<int:pk>/", views.LotDetailView.as_view(), name="api-lot"),
    path("lots/<int:pk>/vials/", views.LotVialsView.as_view(), name="api-lot-vials"),
    path("lots/<int:pk>/labels.pdf", views.LotLabelsPDFView.as_view(), name="api-lot-labels-pdf"),
    path("lots/<int:pk>/labels.zpl", views.LotLabelsZPLView.as_view(), name="api-lot-labels-zpl"),
    path("vials/", views.VialListView.as_view(), name="api-vials"),
    path("vials/<int:pk>/", views.VialDetailView.as_view(), name="api-vial"),
    path("vials/<int:pk>/label.svg", views.VialLabelView.as_view(), name="api-vial-label"),
]
