"""Staff administration: accounts of every role, their sessions and sign-in throttling (admins only)."""
