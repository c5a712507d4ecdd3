"""Migration 0018 keeps the timeline texts that were read in the reader's language by their pattern (a node's name,
a renewal's day) read so: it gives those rows their phrase; other rows stay as stored."""
import json
import sqlite3

from flask_migrate import upgrade

from portal import create_app
from portal.extensions import db


def test_the_old_timeline_rows_with_a_value_get_their_phrase(tmp_path):
    path = tmp_path / "old.db"
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
                      "RATELIMIT_STORAGE_URI": "memory://", "MAIL_SERVER": None})
    with app.app_context():
        upgrade(revision="0017")
        db.engine.dispose()
    with sqlite3.connect(path) as connection:  # rows as 0017 stored them (no foreign keys needed for the test)
        connection.executemany("INSERT INTO instance_events (subscription_id, kind, level, message, created_at) "
                               "VALUES (1, ?, 'info', ?, '2026-11-30 10:00:00')",
                               [("step.scheduled", "Scheduled on node-a1."), ("renewed", "Renewed until 2026-12-31."),
                                ("restarted", "Scheduled on two words."), ("ready", "Your instance is ready.")])
    with app.app_context():
        upgrade(revision="0018")
        rows = db.session.execute(db.text("SELECT message, phrase FROM instance_events ORDER BY id")).all()
        db.engine.dispose()

    phrases = {message: json.loads(phrase) if phrase else None for message, phrase in rows}
    assert phrases == {
        "Scheduled on node-a1.": {"message": "Scheduled on %(node)s.", "values": {"node": "node-a1"}},
        "Renewed until 2026-12-31.": {"message": "Renewed until %(day)s.", "values": {"day": {"day": "2026-12-31"}}},
        "Scheduled on two words.": None,  # not the pattern: kept as stored
        "Your instance is ready.": None,  # a constant: the catalog reads it as it is
    }
