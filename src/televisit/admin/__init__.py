"""Staff administration: accounts of every role, for admins only."""
