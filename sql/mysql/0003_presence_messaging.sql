-- ferroswitch presence and messaging schema (MariaDB / MySQL, InnoDB, utf8mb4): PUBLISH state,
-- the message store (offline delivery and history), the local buddy lists and the voicemail
-- counts for MWI.
-- Keep table and column names identical to sql/sqlite/0003_presence_messaging.sql.
-- Types are limited to what sqlx's Any driver reads on both backends: BIGINT (signed; epoch
-- milliseconds, counts), VARCHAR (not TEXT: the Any driver sees MySQL TEXT as BLOB), BLOB
-- (MEDIUMBLOB: a BLOB holds only 64 KiB - 1). Collation utf8mb4_bin: logins compare byte by
-- byte, as on SQLite. VARCHAR lengths (and the body size) are mirrored by the checks in
-- crates/store/src/limits.rs.

-- Presence publications (RFC 3903), one row per live entity-tag: a refresh or modification
-- replaces the row under a new entity-tag. node_id is the ferroswitch node whose presence core
-- holds the publication (it restores only its own rows at start).
CREATE TABLE presence_publications (
    etag           VARCHAR(64)  NOT NULL,
    login          VARCHAR(128) NOT NULL,
    expires_at_ms  BIGINT       NOT NULL,
    modified_at_ms BIGINT       NOT NULL,
    body           MEDIUMBLOB   NOT NULL,
    node_id        VARCHAR(64)  NOT NULL,
    PRIMARY KEY (etag),
    KEY presence_publications_login (login),
    KEY presence_publications_expires_at_ms (expires_at_ms)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Every MESSAGE (RFC 3428) kept with its status: `deferred` (stored for a login with no
-- registered device, delivered when one registers), `delivered`, `failed`, `sent-offnet`
-- (handed to the SMS hook). (call_id, cseq, sender, recipient) identifies one MESSAGE
-- transaction, so a retransmission (even across a restart) is not stored twice.
-- (255 + 128 + 128) * 4 + 8 bytes fits InnoDB's 3072-byte key limit.
CREATE TABLE sms_inbox (
    id           BIGINT       NOT NULL AUTO_INCREMENT,
    sender       VARCHAR(128) NOT NULL,
    recipient    VARCHAR(128) NOT NULL,
    content_type VARCHAR(255) NOT NULL,
    body         MEDIUMBLOB   NOT NULL,
    call_id      VARCHAR(255) NOT NULL,
    cseq         BIGINT       NOT NULL,
    created_ms   BIGINT       NOT NULL,
    status       VARCHAR(16)  NOT NULL,
    status_ms    BIGINT       NOT NULL,
    attempts     BIGINT       NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    UNIQUE KEY sms_inbox_transaction (call_id, cseq, sender, recipient),
    KEY sms_inbox_recipient_status (recipient, status, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The local buddy lists (used when no buddy-list hook is configured): owner watches buddy.
CREATE TABLE contacts (
    owner VARCHAR(128) NOT NULL,
    buddy VARCHAR(128) NOT NULL,
    PRIMARY KEY (owner, buddy)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Voicemail counts per mailbox, for message-summary (RFC 3842) NOTIFYs. No row = no messages.
CREATE TABLE voicemail_boxes (
    login        VARCHAR(128) NOT NULL,
    new_messages BIGINT       NOT NULL DEFAULT 0,
    old_messages BIGINT       NOT NULL DEFAULT 0,
    urgent_new   BIGINT       NOT NULL DEFAULT 0,
    urgent_old   BIGINT       NOT NULL DEFAULT 0,
    PRIMARY KEY (login)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
