"""Video rooms with Twilio's rules: two identities, unused and empty timeouts, a maximum length."""
