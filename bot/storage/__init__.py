"""Storage: SQLAlchemy 2 models, the async engine and session factory, and Alembic migrations.

SQLite through aiosqlite by default, PostgreSQL through asyncpg when DATABASE_URL says so; the same
code and the same tests run on both.
"""
