"""SQLAlchemy store: rows, repositories mapping rows to domain objects, unit of work."""
