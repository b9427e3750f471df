"""Text messages between the doctor and the patient of an appointment, never lost."""
