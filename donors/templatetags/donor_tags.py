"""Badges and labels of the donor pages."""

from django import template

from donors.choices import ConsentScope, ConsentState, Eligibility, Tissue

register = template.Library()


@register.inclusion_tag("donors/partials/eligibility_badge.html")
def eligibility_badge(result):
    status = getattr(result, "status", result) or ""
    label = Eligibility(status).label if status in Eligibility.values else status
    return {"status": status, "label": label}


@register.inclusion_tag("donors/partials/consent_badge.html")
def consent_badge(state):
    label = ConsentState(state).label if state in ConsentState.values else state
    return {"state": state, "label": label}


@register.filter
def scope_labels(scopes):
    labels = dict(ConsentScope.choices)
    return [labels.get(s, s) for s in scopes or []]


@register.filter
def tissue_label(value):
    return dict(Tissue.choices).get(value, value)
