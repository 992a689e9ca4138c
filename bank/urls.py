"""Project URLs: pages of every app, the bank-wide pages and /api/v1/."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from bank import account_views, health_views, integrity_views, job_views, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("accounts/login/", account_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", account_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="bank/password_change_done.html"),
        name="password_change_done",
    ),
    path("accounts/session/keepalive/", account_views.session_keepalive, name="session_keepalive"),
    path("accounts/session/status/", account_views.session_status, name="session_status"),
    path("accounts/session/timeout/", account_views.session_timeout, name="session_timeout"),
    path("accounts/second-factor/", account_views.second_factor_verify, name="second_factor"),
    path("accounts/second-factor/setup/", account_views.second_factor_setup, name="second_factor_setup"),
    path("accounts/tokens/", account_views.tokens, name="tokens"),
    path("accounts/users/", account_views.users, name="accounts_users"),
    path("accounts/new-user/", account_views.user_create, name="accounts_user_create"),
    path("accounts/users/<str:username>/", account_views.user_detail, name="accounts_user"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", views.healthz, name="healthz"),
    path("healthz/ready", health_views.ready, name="healthz-ready"),
    path("operations/banner/", health_views.banner, name="operations-banner"),
    path("scan/", views.scan, name="scan"),
    path("audit/<str:object_type>/<int:object_id>/", views.audit_page, name="audit"),
    # Part 11 integrity (issue 11): audit exports for inspectors and the audit chain's integrity page.
    path("audit/", integrity_views.audit_index, name="audit-index"),
    path("audit/integrity/", integrity_views.integrity, name="audit-integrity"),
    path("audit/<str:object_type>/<int:object_id>/export.csv", integrity_views.audit_record_export,
         {"fmt": "csv"}, name="audit-export-csv"),
    path("audit/<str:object_type>/<int:object_id>/export.pdf", integrity_views.audit_record_export,
         {"fmt": "pdf"}, name="audit-export-pdf"),
    path("notifications/", views.notifications, name="notifications"),
    path("jobs/", job_views.job_list, name="jobs"),
    path("jobs/<int:pk>/", job_views.job_detail, name="job"),
    path("jobs/<int:pk>/result", job_views.job_result, name="job-result"),
    path("barcodes/<str:code>.svg", views.barcode_svg, name="barcode-svg"),
    path("donors/", include("donors.urls")),
    path("lots/", include("lots.urls")),
    path("storage/", include("storage.urls")),
    path("qc/", include("qc.urls")),
    path("distribution/", include("distribution.urls")),
    path("cordblood/", include("cordblood.urls")),
    path("transplant/", include("transplant.urls")),
    path("haplobank/", include("haplobank.urls")),
    path("quality/", include("quality.urls")),
    path("imports/", include("imports.urls")),
    path("labels/", include("labels.urls")),
    path("api/v1/", include("bank.api.urls")),
    path("admin/", admin.site.urls),
]

handler403 = "bank.views.error_403"
handler404 = "bank.views.error_404"
handler500 = "bank.views.error_500"
