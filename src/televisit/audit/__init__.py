"""Who did what, when: an append-only trail of security- and care-relevant actions."""
