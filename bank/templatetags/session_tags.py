"""``{% idle_session as idle %}``: what the page's idle-timeout timer starts from (bank/static/bank/idle.js)."""

from django import template

from bank import access

register = template.Library()


@register.simple_tag(takes_context=True)
def idle_session(context) -> dict:
    request = context.get("request")
    session = getattr(request, "session", None)
    remaining = access.remaining_seconds(session) if session is not None else access.idle_seconds()
    return {"remaining": int(remaining), "warning": int(access.warning_seconds())}
