"""migguard's reference project: a small FastAPI + async SQLAlchemy + Alembic app.

It doubles as the clean fixture migguard's own checks must pass on, so everything here
is written the way we recommend users write theirs.
"""
