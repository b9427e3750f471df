"""Email: a transactional outbox, the sender that drains it, and what each message says."""
