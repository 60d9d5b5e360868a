-- ferroswitch built-in voicemail (SQLite). Keep table and column names identical to
-- sql/mysql/0007_voicemail.sql.
--
-- voicemailusers: who has the built-in mailbox (seed: "voipswitch.voicemailusers"), the
-- mailbox's email address for voicemail to email (NULL: none) and the path of the owner's own
-- greeting (NULL: the standard one).
CREATE TABLE voicemailusers (
    login         TEXT    NOT NULL PRIMARY KEY,
    enabled       INTEGER NOT NULL DEFAULT 1,
    email         TEXT,
    greeting_path TEXT
);

-- One row per deposited message (seed: "voipswitch.voicemessages"); the audio is a WAV file
-- under the data directory. status: new | old. mail_status: none (no address) | pending |
-- sent | failed (kept for a retry; the message is never lost from the mailbox).
CREATE TABLE voicemessages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    login        TEXT    NOT NULL,
    caller_id    TEXT    NOT NULL,
    display_name TEXT    NOT NULL DEFAULT '',
    created_ms   INTEGER NOT NULL,
    duration_ms  INTEGER NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'new',
    file_path    TEXT    NOT NULL,
    mail_status  TEXT    NOT NULL DEFAULT 'none'
);
CREATE INDEX voicemessages_login ON voicemessages (login, status, id);
