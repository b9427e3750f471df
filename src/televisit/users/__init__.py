"""People: doctors, patients and admins."""
