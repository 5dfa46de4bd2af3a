"""Persistence: engines, the schema and its migrations, the unit of work and its repositories.

The one door to the database: every SQL statement, every dialect branch and every cached
statement of the write path lives here.
"""
