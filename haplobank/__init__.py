"""Haplobank: population HLA tables, the bank's coverage of a population, planning, and the patient match search."""
