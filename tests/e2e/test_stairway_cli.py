"""The stairway's fidelity end to end: every revision meets the schema `alembic upgrade` of the
revisions before it leaves, and a failure is reported only when it reproduces as users run
Alembic."""

from __future__ import annotations

import pytest

from tests.conftest import FIXTURES, run_cli

pytestmark = pytest.mark.timeout(300)


def _check(fixture: str, *extra: str):
    return run_cli("check", "--format", "json", "--db", "local", *extra, str(FIXTURES / fixture))


def test_faulty_downgrade_does_not_break_the_revision_that_depends_on_what_it_dropped() -> None:
    """0002's downgrade drops ``authors.name`` (0001's); 0003 indexes it. The round trip is
    rolled back, so 0003 meets the column, and everything after is still round-tripped."""
    result = _check("downgrade_drops_what_next_needs")
    assert result.code == 1, result.stderr
    (mismatch,) = result.findings("downgrade-mismatch")
    assert mismatch["path"] == "migrations/versions/0002_author_email.py"
    assert mismatch["line"] == 16  # def downgrade
    assert mismatch["revision"] == "0002_author_email"
    assert "column authors.name lost" in mismatch["message"]
    assert result.findings("upgrade-fails") == []
    assert result.findings("downgrade-fails") == []
    summary = result.json["summary"]
    assert (summary["checked"], summary["skipped"]) == (4, 0)
    (drift,) = result.findings("drift")  # the stairway reached head: drift was compared
    assert drift["path"] == "models.py"
    assert "isbn" in drift["message"]


def test_revision_that_inspects_through_a_second_connection_is_not_a_finding() -> None:
    """0001 asks ``op.get_bind().engine.connect()`` and 0003 an engine of its own whether its
    table exists. Inside the round trip the downgrade is not committed, so they skip the
    table and their index fails; `alembic upgrade`/`downgrade`/`upgrade` run one by one
    applies both cleanly, so there is no finding, only a note naming the revision and why."""
    result = _check("second_connection_inspection")
    assert result.code == 0, result.stdout + result.stderr
    assert result.findings("upgrade-fails") == []
    assert result.findings("downgrade-fails") == []
    assert result.findings("downgrade-mismatch") == []
    notes = result.json["notes"]
    for revision in ("0001_tags", "0003_labels"):
        (note,) = [n for n in notes if n.startswith(f"revision {revision}:")]
        assert "not on a plain replay" in note
        assert "opens another connection" in note
    assert result.json["summary"]["checked"] == 3


def test_reupgrade_that_differs_from_the_first_upgrade_is_named_in_a_note() -> None:
    """0001 skips its whole upgrade when a second connection sees the table, so upgrading
    again inside the round trip (where the downgrade is not committed) creates nothing. The
    re-upgrade is compared with the first upgrade: a note says so and why; no finding, since
    `alembic upgrade`/`downgrade`/`upgrade` run one by one applies it cleanly."""
    result = _check("second_connection_skips_silently")
    assert result.code == 0, result.stdout + result.stderr
    assert result.findings() == []
    (note,) = [n for n in result.json["notes"] if n.startswith("revision 0001_tags:")]
    assert "upgrading again after its downgrade gave another schema" in note
    assert "table tags lost" in note
    assert "opens another connection" in note
    assert result.json["summary"]["checked"] == 1


def test_constraint_renamed_by_a_late_naming_convention_names_the_cause() -> None:
    """0001 left the SKU constraint unnamed (production: products_sku_key); the convention
    added later names it uq_products_sku on a fresh database, so 0002's drop fails there."""
    result = _check("late_naming_convention")
    assert result.code == 1, result.stderr
    (finding,) = result.findings("upgrade-fails")
    assert finding["path"] == "migrations/versions/0002_sku_per_vendor.py"
    assert finding["line"] == 15
    assert 'constraint "products_sku_key"' in finding["message"]
    hint = finding["hint"]
    assert "naming_convention" in hint
    assert "uq_products_sku" in hint
    assert "op.f(" in hint and "IF EXISTS" in hint and "bootstrap" in hint
    assert "must apply on an empty database" not in hint
    summary = result.json["summary"]
    assert summary["skipped"] == 1
    assert summary["skipped_reason"].startswith("stopped at 0002_sku_per_vendor")


def test_upgrade_that_fails_only_after_earlier_round_trips_is_not_a_finding() -> None:
    """0002's downgrade takes a session-level advisory lock, which outlives its rolled-back
    round trip; 0003 waits for that lock on a connection of its own and times out. A plain
    replay of the history applies 0003, so the stairway goes on from the replayed database
    and says why in a note."""
    result = _check("session_lock_outlives_round_trip")
    assert result.code == 0, result.stdout + result.stderr
    assert [f for f in result.findings() if f["severity"] == "error"] == []
    (note,) = [n for n in result.json["notes"] if n.startswith("revision 0003_lock:")]
    assert "applies on a plain replay" in note
    summary = result.json["summary"]
    assert (summary["checked"], summary["skipped"]) == (3, 0)
