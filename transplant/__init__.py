"""Transplant centres (issue 12): centres and their clinicians, pseudonymous patients, unit search,
confirmatory-typing requests, reservations, release for administration, shipment, thaw and infusion report
and outcome follow-up."""
