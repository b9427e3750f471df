"""Sign-in, sessions (bearer tokens), logout and login throttling."""
