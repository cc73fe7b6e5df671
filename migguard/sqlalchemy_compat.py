"""What differs between the SQLAlchemy releases migguard supports, 1.4 and 2.x.

migguard drives the connection the project's env.py hands to ``context.configure()``. On
SQLAlchemy 2.x, and on 1.4 with ``future=True``, that connection begins a transaction by
itself and has ``commit()``/``rollback()``; a 1.4 project's plain ``engine.connect()`` gives a
legacy connection without them, whose transaction, if there is one, is the object
``begin()`` returned. These two functions end the current transaction on either kind.
"""

from __future__ import annotations

from typing import Any


def commit(connection: Any) -> None:
    """Commit the connection's transaction, if one is open."""
    _end_transaction(connection, "commit")


def rollback(connection: Any) -> None:
    """Roll the connection's transaction back, if one is open."""
    _end_transaction(connection, "rollback")


def _end_transaction(connection: Any, how: str) -> None:
    if hasattr(connection, how):
        getattr(connection, how)()
        return
    transaction = connection.get_transaction()
    if transaction is not None:
        getattr(transaction, how)()


def none_name() -> object:
    """The marker SQLAlchemy puts in ``Constraint.name`` when no name was given and the naming
    convention may supply one (``sqlalchemy.sql.base`` from 2.0, ``sql.elements`` in 1.4)."""
    try:
        from sqlalchemy.sql.base import _NONE_NAME
    except ImportError:
        from sqlalchemy.sql.elements import _NONE_NAME  # type: ignore[attr-defined,no-redef]
    return _NONE_NAME
