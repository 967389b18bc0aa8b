"""The append-only audit log: chained in the database, tamper-evident, readable by auditors."""

from __future__ import annotations

import csv
import io
import threading
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


def _write(engine: Any, n: int, tag: str) -> None:
    from geo.access.audit import audit_detached

    with Session(engine) as s:
        for i in range(n):
            audit_detached(
                s,
                action="view",
                username=f"audit_{tag}",
                client_ip="127.0.0.1",
                camera_ids=[i],
                reason=f"{tag} {i}",
                detail={"i": i, "tag": tag},
            )


def _seqs(engine: Any, tag: str) -> list[int]:
    with engine.connect() as c:
        return list(
            c.execute(
                text("select seq from audit_log where username = :u order by seq"),
                {"u": f"audit_{tag}"},
            ).scalars()
        )


def test_rows_are_chained_at_commit_and_verify(fresh_engine: Any) -> None:
    from geo.access.audit import verify_chain

    _write(fresh_engine, 3, "basic")
    with fresh_engine.connect() as c:
        rows = c.execute(text("select seq, prev_hash, hash from audit_log order by seq")).all()
        report = verify_chain(c)
    assert report.ok, report
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    for a, b in zip(rows, rows[1:], strict=False):
        assert b.prev_hash == a.hash and len(b.hash) == 64


def test_concurrent_writers_keep_one_chain(fresh_engine: Any) -> None:
    from geo.access.audit import audit, verify_chain

    def long_tx() -> None:  # several records in one transaction, interleaved with the others
        with Session(fresh_engine) as s:
            for i in range(5):
                audit(s, action="export", username="audit_longtx", reason=f"long {i}")
            s.commit()

    threads = [threading.Thread(target=_write, args=(fresh_engine, 10, f"t{i}")) for i in range(6)]
    threads.append(threading.Thread(target=long_tx))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with fresh_engine.connect() as c:
        report = verify_chain(c)
        n, lo, hi = c.execute(text("select count(*), min(seq), max(seq) from audit_log")).one()
    assert report.ok, report
    assert (lo, hi) == (1, n)
    for i in range(6):
        assert len(_seqs(fresh_engine, f"t{i}")) == 10
    assert len(_seqs(fresh_engine, "longtx")) == 5


def test_records_vanish_with_a_rolled_back_action(fresh_engine: Any) -> None:
    from geo.access.audit import audit

    with Session(fresh_engine) as s:
        audit(s, action="share_grant", username="audit_rollback")
        s.rollback()
    assert _seqs(fresh_engine, "rollback") == []


@pytest.mark.parametrize(
    "sql",
    [
        "update audit_log set reason = 'rewritten'",
        "delete from audit_log",
        "truncate audit_log",
        "update audit_chain_head set last_seq = 0",
        "delete from audit_chain_head",
    ],
)
def test_trigger_refuses_changes(fresh_engine: Any, session: Any, sql: str) -> None:
    _write(fresh_engine, 1, "guard")  # a committed row for the row triggers to see
    with pytest.raises(DBAPIError) as e, session.begin_nested():
        session.execute(text(sql))
    assert "refused" in str(e.value)


def test_client_cannot_forge_chain_fields_or_time(fresh_engine: Any) -> None:
    with fresh_engine.begin() as c:
        c.execute(
            text(
                "insert into audit_log (action, username, at, seq, prev_hash, hash) values "
                "('view', 'audit_forger', '2001-01-01', 1, 'x', 'y')"
            )
        )
    with fresh_engine.connect() as c:
        row = c.execute(
            text("select at, seq, hash from audit_log where username = 'audit_forger'")
        ).one()
    assert row.at.year >= 2026 and row.seq > 1 and row.hash != "y"


def _tampered(fresh_engine: Any, *sql: str) -> Any:
    """Apply ``sql`` with the guard off (as superuser) inside a transaction, verify, roll back."""
    from geo.access.audit import verify_chain

    _write(fresh_engine, 4, "tamper")
    seqs = _seqs(fresh_engine, "tamper")
    with fresh_engine.connect() as c:
        tx = c.begin()
        try:
            c.execute(text("alter table audit_log disable trigger audit_log_guard"))
            for q in sql:
                c.execute(text(q.format(mid=seqs[1], last=seqs[-1])))
            return verify_chain(c), seqs
        finally:
            tx.rollback()


def test_verify_finds_an_altered_row(fresh_engine: Any) -> None:
    report, seqs = _tampered(
        fresh_engine, "update audit_log set reason = 'nothing to see' where seq = {mid}"
    )
    assert not report.ok and report.first_bad_seq == seqs[1]
    assert "altered" in report.problem
    with fresh_engine.connect() as c:  # rolled back: the real log is intact
        from geo.access.audit import verify_chain

        assert verify_chain(c).ok


def test_verify_finds_a_deleted_row(fresh_engine: Any) -> None:
    report, seqs = _tampered(fresh_engine, "delete from audit_log where seq = {mid}")
    assert not report.ok and report.first_bad_seq == seqs[2] and "gap" in report.problem


def test_verify_finds_rows_cut_from_the_end(fresh_engine: Any) -> None:
    report, seqs = _tampered(fresh_engine, "delete from audit_log where seq = {last}")
    assert not report.ok and "head" in report.problem


def test_verify_finds_a_rehashed_row(fresh_engine: Any) -> None:
    # recomputing the altered row's own hash still breaks the link to the next row
    report, seqs = _tampered(
        fresh_engine,
        "update audit_log set reason = 'forged' where seq = {mid}",
        "update audit_log a set hash = audit_log_digest(a.prev_hash, a) where seq = {mid}",
    )
    assert not report.ok and report.first_bad_seq == seqs[2] and "chain broken" in report.problem


def test_verify_finds_an_unchained_row(fresh_engine: Any) -> None:
    report, _ = _tampered(
        fresh_engine,
        "set local session_replication_role = replica",
        "insert into audit_log (id, action, username) overriding system value "
        "values (99999999, 'view', 'audit_sneaky')",
    )
    assert (
        not report.ok
        and report.first_bad_id == 99999999
        and "without being chained" in (report.problem or "")
    )


def test_cli_verify(fresh_engine: Any) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    _write(fresh_engine, 1, "cli")
    r = CliRunner().invoke(app, ["audit", "verify"])
    assert r.exit_code == 0 and "audit chain OK" in r.output, r.output
    r = CliRunner().invoke(app, ["audit", "tail", "-n", "3"])
    assert r.exit_code == 0 and "audit_cli" in r.output


# --- GET /api/audit ------------------------------------------------------------------------------


def test_audit_api_for_auditors_only(
    make_user: Any, auth_client: Any, fresh_engine: Any, session: Any
) -> None:
    _write(fresh_engine, 3, "api")
    auditor = auth_client(make_user("audit_reader", role="auditor", agency="City"))
    r = auditor.get("/api/audit", params={"user": "audit_api", "action": "view"})
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 3 and {x["reason"] for x in body["records"]} == {
        "api 0",
        "api 1",
        "api 2",
    }
    assert auditor.get("/api/audit", params={"user": "audit_api", "camera": 1}).json()["total"] == 1
    r = auditor.get("/api/audit", params={"user": "audit_api", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 3 and rows[0]["username"] == "audit_api" and len(rows[0]["hash"]) == 64
    # reading the log is itself on the log
    exports = session.execute(
        text(
            "select detail->>'format' from audit_log where username = 'audit_reader' "
            "and action = 'export' order by id"
        )
    ).scalars()
    assert list(exports) == ["json", "json", "csv"]
    for bad, field in (
        ({"action": "dance"}, "action"),
        ({"start": "noon"}, "start"),
        ({"format": "xml"}, "format"),
        ({"camera": "x"}, "camera"),
    ):
        r = auditor.get("/api/audit", params=bad)
        assert r.status_code == 422 and r.json()["detail"]["field"] == field
    for role in ("police", "operator", "planner"):
        c = auth_client(make_user(f"audit_no_{role}", role=role, agency="X"))
        r = c.get("/api/audit")
        assert r.status_code == 403, role
    admin = auth_client(make_user("audit_admin", role="admin", agency="Centre"))
    assert admin.get("/api/audit", params={"limit": 1}).status_code == 200


def test_cli_verify_reports_the_first_tampered_row(fresh_engine: Any) -> None:
    """A committed tamper (guard off as superuser), then put back so the log stays intact."""
    from typer.testing import CliRunner

    from cli.main import app

    _write(fresh_engine, 2, "clitamper")
    seq = _seqs(fresh_engine, "clitamper")[0]

    def rewrite(reason: str) -> None:
        with fresh_engine.begin() as c:
            c.execute(text("alter table audit_log disable trigger audit_log_guard"))
            c.execute(
                text("update audit_log set reason = :r where seq = :s"), {"r": reason, "s": seq}
            )
            c.execute(text("alter table audit_log enable trigger audit_log_guard"))

    with fresh_engine.connect() as c:
        row_id, original = c.execute(
            text("select id, reason from audit_log where seq = :s"), {"s": seq}
        ).one()
    try:
        rewrite("nothing happened")
        r = CliRunner().invoke(app, ["audit", "verify"])
        assert r.exit_code == 1
        assert f"BROKEN at id {row_id}, seq {seq}" in r.output and "altered" in r.output
        r = CliRunner().invoke(app, ["audit", "verify", "--json"])
        assert r.exit_code == 1 and f'"first_bad_seq": {seq}' in r.output
    finally:
        rewrite(original)
    assert CliRunner().invoke(app, ["audit", "verify"]).exit_code == 0
