"""Project URLs: pages of every app, the bank-wide pages and /api/v1/."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from bank import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(template_name="bank/password_change.html"),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="bank/password_change_done.html"),
        name="password_change_done",
    ),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", views.healthz, name="healthz"),
    path("scan/", views.scan, name="scan"),
    path("audit/<str:object_type>/<int:object_id>/", views.audit_page, name="audit"),
    path("notifications/", views.notifications, name="notifications"),
    path("barcodes/<str:code>.svg", views.barcode_svg, name="barcode-svg"),
    path("donors/", include("donors.urls")),
    path("lots/", include("lots.urls")),
    path("storage/", include("storage.urls")),
    path("qc/", include("qc.urls")),
    path("distribution/", include("distribution.urls")),
    path("api/v1/", include("bank.api.urls")),
    path("admin/", admin.site.urls),
]

handler403 = "bank.views.error_403"
handler404 = "bank.views.error_404"
handler500 = "bank.views.error_500"
