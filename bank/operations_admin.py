"""Django admin pages of the operations (issue 11): the outbox and the heartbeats, read-only.

Admins see the e-mails and jobs waiting, sent, or given up on, and can send one given up on again; and when the
worker and beat were last seen. Registered from ``BankConfig.ready()`` (``bank/admin.py`` keeps to accounts).
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from bank.models import Heartbeat, OutboxMessage


class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "summary", "attempts", "created_at", "available_at", "delivered_at")
    list_filter = ("status", "kind")
    ordering = ("-id",)
    readonly_fields = ("kind", "payload", "status", "created_at", "available_at", "attempts", "last_error",
                       "delivered_at")
    actions = ["send_again"]

    @admin.display(description=_("what"))
    def summary(self, message):
        payload = message.payload or {}
        if message.kind == OutboxMessage.Kind.EMAIL:
            return f"{', '.join(payload.get('to') or [])}: {payload.get('subject', '')}"[:120]
        return str(payload.get("name", ""))

    @admin.action(description=_("Send the selected messages again"), permissions=["change"])
    def send_again(self, request, queryset):
        from bank import outbox

        count = outbox.send_again(queryset.values_list("pk", flat=True))
        self.message_user(request, _("%(n)d message(s) queued again.") % {"n": count})

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ("name", "seen_at", "detail")
    readonly_fields = ("name", "seen_at", "detail")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def register(site=admin.site) -> None:
    for model, model_admin in ((OutboxMessage, OutboxMessageAdmin), (Heartbeat, HeartbeatAdmin)):
        if not site.is_registered(model):
            site.register(model, model_admin)
