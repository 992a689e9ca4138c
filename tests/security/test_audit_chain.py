"""The tamper-evident audit chain (issue 11, Part 11 integrity): every history row is hashed and linked by a
PostgreSQL trigger, the sealer chains the links, keyed checkpoints anchor the chain, and ``verify_audit`` names the
first broken link — including what a database superuser does with the append-only triggers switched off."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import psycopg2
import pytest
from django.conf import settings as django_settings
from django.core.checks.registry import registry
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test import override_settings

from bank import audit_chain
from bank.audit import audited_models
from bank.integrity_checks import audit_chain_key
from bank.models import AuditCheckpoint, AuditLink, Notification
from bank.notifications import notify
from bank.tasks import audit_checkpoint as audit_checkpoint_task
from bank.tasks import seal_audit_chain
from tests.factories import LotFactory

ROOT = Path(__file__).resolve().parents[2]
NOTE_HISTORY = Notification.history.model._meta.db_table
KEY = "test-audit-chain-key-0123456789-abcdef-0123456789"


@pytest.fixture(autouse=True)
def _chain_key(settings):
    settings.AUDIT_CHAIN_KEY = KEY
    settings.AUDIT_CHAIN_PREVIOUS_KEYS = []


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sql(statement: str, params=None, *, untriggered: tuple[str, ...] = ()):
    """Run SQL as the superuser the test database connects as, with the named tables' triggers switched off
    (what an attacker with database rights does to get past the append-only triggers)."""
    with connection.cursor() as cursor:
        if untriggered:  # the test's transaction has deferred foreign-key checks pending: run them first
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in untriggered:
            cursor.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER ALL')
        cursor.execute(statement, params)
        result = cursor.fetchall() if cursor.description else None
        for table in untriggered:
            cursor.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER ALL')
        if untriggered:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    return result


def notes(users, *subjects) -> list[Notification]:
    """One notification (and its history row) per subject: the simplest audited record."""
    return [notify([users["technician"]], subject=s)[0] for s in subjects]


def note_history_id(note) -> int:
    return note.history.order_by("history_id").first().history_id


def link_of(table: str, history_id: int) -> AuditLink:
    return AuditLink.objects.get(table=table, history_id=history_id)


def verify_command(*args) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("verify_audit", *args, stdout=out, stderr=io.StringIO())
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


# --- links and sealing -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_history_table_has_the_link_trigger():
    tables = {model.history.model._meta.db_table for model in audited_models().values()}
    found = {row[0] for row in sql(
        "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE NOT t.tgisinternal AND t.tgname LIKE %s", ["%\\_audit\\_link"])}
    assert tables and tables <= found


@pytest.mark.django_db
def test_a_history_row_gets_a_link_with_its_hash_and_the_sealer_chains_it(users):
    audit_chain.seal()
    note = notes(users, "Tank 3 excursion")[0]
    history_id = note_history_id(note)
    link = link_of(NOTE_HISTORY, history_id)
    recomputed = sql(f'SELECT stembank_audit_row_hash(h) FROM "{NOTE_HISTORY}" h WHERE history_id = %s',
                     [history_id])[0][0]
    assert link.row_hash == recomputed and len(recomputed) == 64
    assert link.chain_hash == ""  # not sealed yet

    assert audit_chain.seal() >= 1
    link.refresh_from_db()
    previous = AuditLink.objects.filter(id__lt=link.id).order_by("-id").values_list("chain_hash", flat=True).first()
    assert link.chain_hash == sha((previous or audit_chain.GENESIS) + link.row_hash)
    assert audit_chain.seal() == 0  # nothing left


@pytest.mark.django_db
def test_the_row_hash_does_not_depend_on_the_session_time_zone(users):
    note = notes(users, "time zones")[0]
    history_id = note_history_id(note)
    query = f'SELECT stembank_audit_row_hash(h) FROM "{NOTE_HISTORY}" h WHERE history_id = %s'
    utc = sql(query, [history_id])[0][0]
    sql("SET LOCAL timezone TO 'Asia/Shanghai'")
    assert sql(query, [history_id])[0][0] == utc == link_of(NOTE_HISTORY, history_id).row_hash


@pytest.mark.django_db
def test_the_chain_and_checkpoints_are_append_only(users):
    notes(users, "a", "b")
    audit_chain.seal()
    cp = audit_chain.checkpoint()
    link = AuditLink.objects.exclude(chain_hash="").order_by("-id").first()
    for statement, params in ((f'UPDATE "bank_auditlink" SET chain_hash = %s WHERE id = {link.id}', ["0" * 64]),
                              (f'UPDATE "bank_auditlink" SET row_hash = %s WHERE id = {link.id}', ["0" * 64]),
                              (f'DELETE FROM "bank_auditlink" WHERE id = {link.id}', None),
                              (f'UPDATE "bank_auditcheckpoint" SET chain_hash = %s WHERE id = {cp.pk}', ["0" * 64]),
                              (f'DELETE FROM "bank_auditcheckpoint" WHERE id = {cp.pk}', None)):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            sql(statement, params)


# --- verification ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_clean_bank_verifies_clean(users):
    notes(users, "one", "two", "three")
    LotFactory()
    audit_chain.checkpoint()
    notes(users, "after the checkpoint")
    result = audit_chain.verify()
    assert result.supported and result.clean, [p.as_dict() for p in result.problems]
    assert result.links_checked == AuditLink.objects.exclude(chain_hash="").count() > 0
    assert result.rows_checked == result.links_checked and result.checkpoints_checked == 1
    status, out = verify_command()
    assert status == 0 and "clean" in out
    status, out = verify_command("--since-checkpoint")
    assert status == 0 and "(incremental)" in out


@pytest.mark.django_db
def test_verification_reads_the_chain_in_batches(users):
    notes(users, *[f"note {i}" for i in range(7)])
    audit_chain.checkpoint()
    notes(users, *[f"later {i}" for i in range(5)])
    audit_chain.seal(batch_size=100)
    small = audit_chain.verify(batch_size=3)
    whole = audit_chain.verify()
    assert small.clean and whole.clean and small.links_checked == whole.links_checked
    incremental = audit_chain.verify(since_checkpoint=True, batch_size=2)
    assert incremental.clean and incremental.mode == "incremental"
    assert incremental.links_checked == 5 and incremental.from_link_id == AuditCheckpoint.objects.get().last_link_id


@pytest.mark.django_db
def test_a_row_changed_with_the_triggers_off_is_named(users):
    first, target, last = notes(users, "first", "Lot MCB-2026-0001 released", "last")
    audit_chain.checkpoint()
    history_id = note_history_id(target)
    sql(f'UPDATE "{NOTE_HISTORY}" SET subject = %s WHERE history_id = %s', ["Lot MCB-2026-0001 rejected", history_id],
        untriggered=(NOTE_HISTORY,))
    assert Notification.history.get(history_id=history_id).subject == "Lot MCB-2026-0001 rejected"

    result = audit_chain.verify()
    assert not result.clean and result.problem_count == 1
    problem = result.first
    assert (problem.kind, problem.table, problem.history_id, problem.object_type, problem.object_id) == (
        "row_changed", NOTE_HISTORY, history_id, "notification", target.pk)
    assert problem.link_id == link_of(NOTE_HISTORY, history_id).id
    status, out = verify_command()
    assert status == 1
    assert f"row_changed in {NOTE_HISTORY} history_id={history_id}" in out and f"notification {target.pk}" in out


@pytest.mark.django_db
def test_a_deleted_row_is_named(users):
    kept, gone = notes(users, "kept", "gone")
    audit_chain.checkpoint()
    history_id = note_history_id(gone)
    sql(f'DELETE FROM "{NOTE_HISTORY}" WHERE history_id = %s', [history_id], untriggered=(NOTE_HISTORY,))
    result = audit_chain.verify()
    assert [(p.kind, p.table, p.history_id) for p in result.problems] == [("row_deleted", NOTE_HISTORY, history_id)]
    assert verify_command()[0] == 1


@pytest.mark.django_db
def test_a_row_inserted_with_the_triggers_off_has_no_link(users):
    note = notes(users, "genuine")[0]
    audit_chain.checkpoint()
    columns = [f.column for f in Notification.history.model._meta.concrete_fields if f.column != "history_id"]
    names = ", ".join(f'"{c}"' for c in columns)
    forged = sql(f'INSERT INTO "{NOTE_HISTORY}" ({names}) SELECT {names} FROM "{NOTE_HISTORY}" '
                 "WHERE history_id = %s RETURNING history_id", [note_history_id(note)],
                 untriggered=(NOTE_HISTORY,))[0][0]
    result = audit_chain.verify()
    assert [(p.kind, p.history_id, p.object_id) for p in result.problems] == [("link_missing", forged, note.pk)]
    # the incremental check (rows since the last good checkpoint, with a day's margin) sees it too
    assert audit_chain.verify(since_checkpoint=True).first.kind == "link_missing"


@pytest.mark.django_db
def test_an_edited_row_hash_breaks_the_chain_at_that_link(users):
    notes(users, "a", "b", "c")
    audit_chain.seal()
    link = AuditLink.objects.order_by("-id")[1]
    sql(f'UPDATE "bank_auditlink" SET row_hash = %s WHERE id = {link.id}', ["f" * 64], untriggered=("bank_auditlink",))
    kinds = [(p.kind, p.link_id) for p in audit_chain.verify().problems]
    assert kinds == [("row_changed", link.id), ("chain_broken", link.id)]


def _rehash_from(link_id: int) -> None:
    """What an attacker who knows the formula does after changing a row: recompute its row hash and every chain
    hash from there on, so the chain is consistent again (they cannot recompute the keyed checkpoints)."""
    previous = AuditLink.objects.filter(id__lt=link_id).order_by("-id").values_list("chain_hash", flat=True).first()
    previous = previous or audit_chain.GENESIS
    for link in AuditLink.objects.filter(id__gte=link_id).order_by("id"):
        row_hash = sql(f'SELECT stembank_audit_row_hash(h) FROM "{link.table}" h WHERE history_id = %s',
                       [link.history_id])[0][0]
        previous = sha(previous + row_hash)
        sql('UPDATE "bank_auditlink" SET row_hash = %s, chain_hash = %s WHERE id = %s', [row_hash, previous, link.id],
            untriggered=("bank_auditlink",))


@pytest.mark.django_db
def test_a_rewritten_chain_is_caught_by_the_keyed_checkpoint(users):
    _before, target, _after = notes(users, "before", "QC result 92 %", "after")
    first_cp = audit_chain.checkpoint()
    notes(users, "more", "and more")
    audit_chain.checkpoint()
    history_id = note_history_id(target)
    sql(f'UPDATE "{NOTE_HISTORY}" SET subject = %s WHERE history_id = %s', ["QC result 62 %", history_id],
        untriggered=(NOTE_HISTORY,))
    _rehash_from(link_of(NOTE_HISTORY, history_id).id)

    result = audit_chain.verify()
    # Every row hash and every chain step checks out: only the keyed checkpoints see the rewrite.
    assert {p.kind for p in result.problems} == {"chain_rewritten"}
    first = result.first
    assert first.link_id == first_cp.last_link_id and f"checkpoint #{first_cp.pk}" in first.detail
    assert verify_command()[0] == 1
    assert audit_chain.verify(since_checkpoint=True).first.kind == "chain_rewritten"

    # Forging the checkpoints too needs the key: without it they no longer verify.
    for cp in AuditCheckpoint.objects.all():
        head = AuditLink.objects.get(id=cp.last_link_id).chain_hash
        forged = hmac.new(b"a guessed key", audit_chain._checkpoint_message(cp.last_link_id, head, cp.at),
                          hashlib.sha256).hexdigest()
        sql('UPDATE "bank_auditcheckpoint" SET chain_hash = %s, signature = %s WHERE id = %s', [head, forged, cp.pk],
            untriggered=("bank_auditcheckpoint",))
    kinds = {p.kind for p in audit_chain.verify().problems}
    assert kinds == {"checkpoint_forged"}


@pytest.mark.django_db
def test_a_deleted_link_and_row_break_the_chain(users):
    notes(users, "a", "victim", "c")
    audit_chain.checkpoint()
    victim = AuditLink.objects.order_by("-id")[1]
    sql(f'DELETE FROM "{victim.table}" WHERE history_id = %s', [victim.history_id], untriggered=(victim.table,))
    sql(f'DELETE FROM "bank_auditlink" WHERE id = {victim.id}', untriggered=("bank_auditlink",))
    problems = audit_chain.verify().problems
    assert problems[0].kind == "chain_broken" and problems[0].link_id > victim.id


@pytest.mark.django_db
def test_checkpoints_of_a_previous_key_verify_after_rotation(users, settings):
    notes(users, "a")
    old = audit_chain.checkpoint()
    settings.AUDIT_CHAIN_KEY = "a-new-key-after-rotation-0123456789-abcdef-012345"
    assert audit_chain.verify().first.kind == "checkpoint_forged"
    assert old.key_id in audit_chain.verify().first.detail
    settings.AUDIT_CHAIN_PREVIOUS_KEYS = [KEY]
    assert audit_chain.verify().clean


# --- the sealer and concurrent writers ------------------------------------------------------------------------


def _raw_connection():
    db = django_settings.DATABASES["default"]
    return psycopg2.connect(dbname=db["NAME"], user=db["USER"] or None, password=db["PASSWORD"] or None,
                            host=db["HOST"] or None, port=db["PORT"] or None)


@pytest.mark.django_db(transaction=True)
def test_the_sealer_never_chains_past_a_writer_still_running(users):
    """Link ids are drawn as rows are written but transactions commit in any order: a link committed after a
    later one was sealed would fall out of the chain. The sealer waits until no writer can still precede."""
    note = notes(users, "committed first")[0]
    writer = _raw_connection()
    try:
        columns = [f.column for f in Notification.history.model._meta.concrete_fields if f.column != "history_id"]
        names = ", ".join(f'"{c}"' for c in columns)
        with writer.cursor() as cursor:  # a transaction that draws a link id and stays open
            cursor.execute(f'INSERT INTO "{NOTE_HISTORY}" ({names}) SELECT {names} FROM "{NOTE_HISTORY}" '
                           "WHERE history_id = %s RETURNING history_id", [note_history_id(note)])
            slow_history_id = cursor.fetchone()[0]
        notes(users, "committed second")  # a later link id, committed before the writer
        assert audit_chain.seal(wait_seconds=0.3) == 0
        assert not AuditLink.objects.exclude(chain_hash="").exists()

        # The writer commits while the sealer waits: the sealer then chains everything, in id order.
        threading.Timer(0.3, writer.commit).start()
        assert audit_chain.seal(wait_seconds=5) == AuditLink.objects.count()
    finally:
        writer.close()
    assert AuditLink.objects.filter(table=NOTE_HISTORY, history_id=slow_history_id).exclude(chain_hash="").exists()
    assert audit_chain.verify().clean


@pytest.mark.django_db(transaction=True)
def test_one_sealer_at_a_time(users):
    notes(users, "a")
    other = _raw_connection()
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [audit_chain.SEAL_LOCK])
            assert audit_chain.seal() == 0  # the other sealer holds the lock
            cursor.execute("SELECT pg_advisory_unlock(%s)", [audit_chain.SEAL_LOCK])
    finally:
        other.close()
    assert audit_chain.seal() >= 1


# --- linking the rows that predate the chain -------------------------------------------------------------------


@pytest.mark.django_db
def test_install_links_existing_rows_once_in_history_order_and_keeps_forgeries_out(users):
    audit_chain.uninstall_audit_chain()
    sql('DELETE FROM "bank_auditlink"')
    sql('DELETE FROM "bank_auditcheckpoint"')
    earlier = notes(users, "written before the chain existed")[0]
    lot = LotFactory(vials=False)
    audit_chain.install_audit_chain(using="default")
    lot_history = lot.history.model._meta.db_table
    links = list(AuditLink.objects.order_by("id"))
    assert {(link.table, link.history_id) for link in links} >= {
        (NOTE_HISTORY, note_history_id(earlier)), (lot_history, lot.history.get().history_id)}
    note_link = link_of(NOTE_HISTORY, note_history_id(earlier))
    lot_link = link_of(lot_history, lot.history.get().history_id)
    assert note_link.id < lot_link.id  # history_date order across tables
    assert all(link.chain_hash for link in links)  # sealed at once
    assert audit_chain.verify().clean

    # Running it again changes nothing; a table whose trigger was dropped gets it back, not links for what was
    # written meanwhile.
    count = AuditLink.objects.count()
    audit_chain.install_audit_chain(using="default")
    assert AuditLink.objects.count() == count
    sql(f'DROP TRIGGER "{NOTE_HISTORY}_audit_link" ON "{NOTE_HISTORY}"')
    sneaked = notes(users, "written with the trigger dropped")[0]
    audit_chain.install_audit_chain(using="default")
    assert not AuditLink.objects.filter(table=NOTE_HISTORY, history_id=note_history_id(sneaked)).exists()
    assert audit_chain.verify().first.kind == "link_missing"
    after = notes(users, "the trigger is back")[0]
    assert AuditLink.objects.filter(table=NOTE_HISTORY, history_id=note_history_id(after)).exists()


@pytest.mark.django_db
def test_a_switched_off_trigger_shows_on_the_status_and_migrate_turns_it_back_on(users):
    assert audit_chain.chain_status()["unguarded_tables"] == []
    sql(f'ALTER TABLE "{NOTE_HISTORY}" DISABLE TRIGGER "{NOTE_HISTORY}_audit_link"')
    unlinked = notes(users, "written while the trigger was off")[0]
    assert audit_chain.chain_status()["unguarded_tables"] == [NOTE_HISTORY]
    sql("SET CONSTRAINTS ALL IMMEDIATE")  # (the test's transaction: run its pending foreign-key checks first)
    audit_chain.install_audit_chain(using="default")
    assert audit_chain.chain_status()["unguarded_tables"] == []
    linked = notes(users, "after migrate")[0]
    assert AuditLink.objects.filter(table=NOTE_HISTORY, history_id=note_history_id(linked)).exists()
    problem = audit_chain.verify().first
    assert (problem.kind, problem.history_id) == ("link_missing", note_history_id(unlinked))


# --- the key, the tasks, the commands ---------------------------------------------------------------------------


def test_production_on_postgresql_needs_the_key(settings):
    assert audit_chain_key in registry.get_checks()
    settings.PRODUCTION = True
    settings.AUDIT_CHAIN_KEY = ""
    assert [e.id for e in audit_chain_key()] == ["bank.E111"]
    with pytest.raises(ImproperlyConfigured):
        audit_chain.chain_key()
    settings.AUDIT_CHAIN_KEY = "short"
    assert [e.id for e in audit_chain_key()] == ["bank.E112"]
    settings.AUDIT_CHAIN_KEY = KEY
    assert audit_chain_key() == []
    settings.PRODUCTION = False
    settings.AUDIT_CHAIN_KEY = ""
    assert audit_chain_key() == []  # the demo makes its own key file


def test_outside_production_a_key_file_is_made_once(settings, tmp_path):
    settings.PRODUCTION = False
    settings.AUDIT_CHAIN_KEY = ""
    settings.VAR_DIR = tmp_path
    first = audit_chain.chain_key()
    assert (tmp_path / "audit-chain.key").exists() and len(first) == 64
    assert oct((tmp_path / "audit-chain.key").stat().st_mode & 0o777) == "0o600"
    assert audit_chain.chain_key() == first


def test_the_key_can_come_from_a_file(tmp_path):
    secret = tmp_path / "chain.key"
    secret.write_text("a-key-from-a-docker-secret-0123456789-abcdef\n")
    env = {k: v for k, v in os.environ.items() if k not in {"AUDIT_CHAIN_KEY"}}
    env.update(AUDIT_CHAIN_KEY_FILE=str(secret), STEMBANK_VAR_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE',"
                          "'bank.settings'); django.setup(); from django.conf import settings; "
                          "print(settings.AUDIT_CHAIN_KEY)"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "a-key-from-a-docker-secret-0123456789-abcdef"


@pytest.mark.django_db
def test_the_beat_tasks_seal_and_checkpoint_and_tell_admins_and_qa_when_broken(users):
    notes(users, "a", "b")
    assert seal_audit_chain.apply().get() >= 2
    summary = audit_checkpoint_task.apply().get()
    assert summary["clean"] and AuditCheckpoint.objects.count() == 1
    assert not Notification.objects.filter(subject__startswith="The audit trail failed").exists()
    victim = notes(users, "to be altered")[0]
    audit_chain.seal()
    sql(f'UPDATE "{NOTE_HISTORY}" SET body = %s WHERE history_id = %s', ["altered", note_history_id(victim)],
        untriggered=(NOTE_HISTORY,))
    summary = audit_checkpoint_task.apply().get()
    assert not summary["clean"] and AuditCheckpoint.objects.count() == 2
    told = Notification.objects.filter(subject__startswith="The audit trail failed its integrity check")
    assert {n.recipient.username for n in told} == {"admin", "qa"}
    assert "/audit/integrity/" in told.first().link


@pytest.mark.django_db
def test_checkpoint_command(users):
    notes(users, "a")
    out = io.StringIO()
    call_command("audit_checkpoint", stdout=out)
    cp = AuditCheckpoint.objects.get()
    assert f"Checkpoint #{cp.pk}" in out.getvalue() and cp.key_id
    assert hmac.compare_digest(cp.signature, audit_chain.checkpoint_signature(cp.last_link_id, cp.chain_hash, cp.at,
                                                                              KEY.encode()))
    call_command("audit_checkpoint", "--verify", stdout=out)
    assert AuditCheckpoint.objects.count() == 2 and "clean" in out.getvalue()


@pytest.mark.django_db
def test_bad_command_input_is_refused_cleanly():
    with pytest.raises(CommandError, match="not a date"):
        call_command("verify_audit", "--since", "yesterday", stdout=io.StringIO())


@pytest.mark.django_db
def test_since_a_date_starts_from_the_checkpoint_of_that_day(users):
    notes(users, "a")
    cp = audit_chain.checkpoint()
    notes(users, "b")
    audit_chain.checkpoint()
    from django.utils import timezone

    day = timezone.localtime(cp.at).date()  # the bank's day (verify reads checkpoints by local date), not UTC's
    result = audit_chain.verify(since=day)
    assert result.clean and result.mode == "incremental"
    assert audit_chain.verify(since=day - datetime.timedelta(days=30)).mode == "full"  # no checkpoint that early


# --- the embedded demo: SQLite has no chain, and says so ----------------------------------------------------------


def test_sqlite_has_no_chain_and_verify_audit_never_says_clean(tmp_path):
    """On the embedded SQLite demo the commands say there is no chain (exit 2), never "clean". (The demo's pages,
    the audit area included, are crawled on SQLite by tests/bank/test_embedded_smoke.py.)"""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "AUDIT_CHAIN_KEY"}}
    env.update(STEMBANK_VAR_DIR=str(tmp_path))

    def manage(*args):
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)

    verify = manage("verify_audit")
    assert verify.returncode == 2, verify.stdout + verify.stderr
    assert "needs PostgreSQL" in verify.stderr and "clean" not in verify.stdout
    as_json = manage("verify_audit", "--json")
    assert as_json.returncode == 2 and '"supported": false' in as_json.stdout and '"clean": false' in as_json.stdout
    checkpoint = manage("audit_checkpoint")
    assert checkpoint.returncode == 2 and "PostgreSQL" in checkpoint.stderr
    shell = manage("shell", "--no-imports", "-c", "from bank import audit_chain; "
                   "print(audit_chain.seal(), audit_chain.verify().supported, audit_chain.chain_status()['supported'])")
    assert shell.returncode == 0, shell.stderr[-3000:]
    assert shell.stdout.split() == ["0", "False", "False"]


@override_settings(AUDIT_CHAIN_KEY=KEY)
def test_chain_step_is_sha256_of_previous_and_row_hash():
    assert audit_chain.chain_step("a" * 64, "b" * 64) == sha("a" * 64 + "b" * 64)
