-- ferroswitch presence and messaging schema (SQLite): PUBLISH state, the message store
-- (offline delivery and history), the local buddy lists and the voicemail counts for MWI.
-- Keep table and column names identical to sql/mysql/0003_presence_messaging.sql.
-- Types are limited to what sqlx's Any driver reads on both backends:
-- INTEGER (epoch milliseconds, counts), TEXT, BLOB.

-- Presence publications (RFC 3903), one row per live entity-tag: a refresh or modification
-- replaces the row under a new entity-tag. node_id is the ferroswitch node whose presence core
-- holds the publication (it restores only its own rows at start).
CREATE TABLE presence_publications (
    etag           TEXT    NOT NULL PRIMARY KEY,
    login          TEXT    NOT NULL,
    expires_at_ms  INTEGER NOT NULL,
    modified_at_ms INTEGER NOT NULL,
    body           BLOB    NOT NULL,
    node_id        TEXT    NOT NULL
);
CREATE INDEX presence_publications_login ON presence_publications (login);
CREATE INDEX presence_publications_expires_at_ms ON presence_publications (expires_at_ms);

-- Every MESSAGE (RFC 3428) kept with its status: `deferred` (stored for a login with no
-- registered device, delivered when one registers), `delivered`, `failed`, `sent-offnet`
-- (handed to the SMS hook). (call_id, cseq, sender, recipient) identifies one MESSAGE
-- transaction, so a retransmission (even across a restart) is not stored twice.
CREATE TABLE sms_inbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    sender       TEXT    NOT NULL,
    recipient    TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    body         BLOB    NOT NULL,
    call_id      TEXT    NOT NULL,
    cseq         INTEGER NOT NULL,
    created_ms   INTEGER NOT NULL,
    status       TEXT    NOT NULL,
    status_ms    INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX sms_inbox_transaction ON sms_inbox (call_id, cseq, sender, recipient);
CREATE INDEX sms_inbox_recipient_status ON sms_inbox (recipient, status, id);

-- The local buddy lists (used when no buddy-list hook is configured): owner watches buddy.
CREATE TABLE contacts (
    owner TEXT NOT NULL,
    buddy TEXT NOT NULL,
    PRIMARY KEY (owner, buddy)
);

-- Voicemail counts per mailbox, for message-summary (RFC 3842) NOTIFYs. No row = no messages.
CREATE TABLE voicemail_boxes (
    login        TEXT    NOT NULL PRIMARY KEY,
    new_messages INTEGER NOT NULL DEFAULT 0,
    old_messages INTEGER NOT NULL DEFAULT 0,
    urgent_new   INTEGER NOT NULL DEFAULT 0,
    urgent_old   INTEGER NOT NULL DEFAULT 0
);
