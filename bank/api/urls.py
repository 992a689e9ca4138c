"""/api/v1/ — the bank-wide endpoints and every app's API."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from bank.api import accounts, health, integrity, jobs, views

urlpatterns = [
    path("auth/token/", accounts.TokenView.as_view(), name="api-token"),
    path("auth/tokens/", accounts.TokenListView.as_view(), name="api-tokens"),
    path("auth/tokens/<str:token_id>/", accounts.TokenDetailView.as_view(), name="api-token-detail"),
    path("accounts/", accounts.AccountListView.as_view(), name="api-accounts"),
    path("accounts/<str:username>/", accounts.AccountDetailView.as_view(), name="api-account"),
    path("accounts/<str:username>/unlock/", accounts.UnlockView.as_view(), name="api-account-unlock"),
    path("accounts/<str:username>/force-password-change/", accounts.ForcePasswordChangeView.as_view(),
         name="api-account-force-password-change"),
    path("me/", views.MeView.as_view(), name="api-me"),
    path("audit/", views.AuditView.as_view(), name="api-audit"),
    # Part 11 integrity (issue 11): audit exports and the tamper-evident chain.
    path("audit/export.csv", integrity.AuditExportCSVView.as_view(), name="api-audit-export-csv"),
    path("audit/export.pdf", integrity.AuditExportPDFView.as_view(), name="api-audit-export-pdf"),
    path("audit/chain/", integrity.AuditChainView.as_view(), name="api-audit-chain"),
    path("audit/chain/verify/", integrity.AuditChainVerifyView.as_view(), name="api-audit-chain-verify"),
    path("notifications/", views.NotificationListView.as_view(), name="api-notifications"),
    path("notifications/read/", views.NotificationReadView.as_view(), name="api-notifications-read"),
    path("jobs/", jobs.JobListView.as_view(), name="api-jobs"),
    path("jobs/<int:pk>/", jobs.JobDetailView.as_view(), name="api-job"),
    path("jobs/<int:pk>/result/", jobs.JobResultView.as_view(), name="api-job-result"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", health.DocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("health/", health.HealthView.as_view(), name="api-health"),
    path("", include("donors.api.urls")),
    path("", include("lots.api.urls")),
    path("", include("storage.api.urls")),
    path("", include("qc.api.urls")),
    path("", include("distribution.api.urls")),
    path("", include("distribution.registry_urls")),  # issue 15: registry export, public catalog feed
    path("", include("cordblood.api.urls")),
    path("", include("transplant.api.urls")),
    path("", include("haplobank.api.urls")),
    path("", include("quality.api.urls")),
    path("", include("imports.api.urls")),
    path("", include("labels.api.urls")),
]
