"""Visits booked by a doctor with a patient."""
