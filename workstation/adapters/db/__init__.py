"""Database adapter: the typed ORM, engines for SQLite and PostgreSQL, migrations, the unit of work."""
