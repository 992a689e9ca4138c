"""/api/v1/ — the bank-wide endpoints and every app's API."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from bank.api import views

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    path("me/", views.MeView.as_view(), name="api-me"),
    path("audit/", views.AuditView.as_view(), name="api-audit"),
    path("notifications/", views.NotificationListView.as_view(), name="api-notifications"),
    path("notifications/read/", views.NotificationReadView.as_view(), name="api-notifications-read"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("donors.api.urls")),
    path("", include("lots.api.urls")),
    path("", include("storage.api.urls")),
    path("", include("qc.api.urls")),
    path("", include("distribution.api.urls")),
]
