"""Cross-cutting pieces every domain uses: settings, database, errors, security, logging."""
