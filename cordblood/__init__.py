"""Cord blood banking (issue 12): the mother and her infant donations, collection sites, acceptance and
processing of a unit (its bag, segments, reference vials and maternal samples), verification typing, the
unit's search listing and family storage."""
