"""Transplant centres, patients, searches, confirmatory typing, reservations, release, shipment, follow-up."""
