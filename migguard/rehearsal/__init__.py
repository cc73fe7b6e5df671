"""The production rehearsal: a revision's upgrade run on tables that hold rows, under observation.

A migration that is *correct* on an empty database can still fail on a live one (``NOT NULL``
without a default once rows exist) or lock a busy table for minutes (``CREATE INDEX`` without
``CONCURRENTLY``, a type change that rewrites the table). Static linters guess these from the
text. migguard runs the revision, so it watches what PostgreSQL does instead:

- :mod:`.catalog` reads the tables that exist before the revision;
- :mod:`.values` and :mod:`.rows` give each empty one the revision touches a few rows that
  satisfy its constraints;
- :mod:`.probe` reads, for those tables, the locks this backend holds, the relfilenode, the
  scan counters and the constraints, and says what changed between two readings;
- :mod:`.observe` fills the tables each statement names before it runs, runs that probe after
  it, and ties each statement to the line of the revision file that sent it;
- :mod:`.step` puts them together around one revision's upgrade and removes the rows after,
  so the rest of the run sees exactly what it would have seen without a rehearsal;
- :mod:`.selection` decides which revisions are rehearsed.

The rules that read the observations are in :mod:`migguard.checks.rehearsal`.
"""
