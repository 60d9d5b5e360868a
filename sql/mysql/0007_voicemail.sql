-- ferroswitch built-in voicemail (MariaDB/MySQL). Keep table and column names identical to
-- sql/sqlite/0007_voicemail.sql.
--
-- voicemailusers: who has the built-in mailbox (seed: "voipswitch.voicemailusers"), the
-- mailbox's email address for voicemail to email (NULL: none) and the path of the owner's own
-- greeting (NULL: the standard one).
CREATE TABLE voicemailusers (
    login         VARCHAR(128)  NOT NULL,
    enabled       BIGINT        NOT NULL DEFAULT 1,
    email         VARCHAR(255)  NULL,
    greeting_path VARCHAR(1024) NULL,
    PRIMARY KEY (login)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row per deposited message (seed: "voipswitch.voicemessages"); the audio is a WAV file
-- under the data directory. status: new | old. mail_status: none (no address) | pending |
-- sent | failed (kept for a retry; the message is never lost from the mailbox).
CREATE TABLE voicemessages (
    id           BIGINT        NOT NULL AUTO_INCREMENT,
    login        VARCHAR(128)  NOT NULL,
    caller_id    VARCHAR(128)  NOT NULL,
    display_name VARCHAR(128)  NOT NULL DEFAULT '',
    created_ms   BIGINT        NOT NULL,
    duration_ms  BIGINT        NOT NULL,
    status       VARCHAR(8)    NOT NULL DEFAULT 'new',
    file_path    VARCHAR(1024) NOT NULL,
    mail_status  VARCHAR(8)    NOT NULL DEFAULT 'none',
    PRIMARY KEY (id),
    KEY voicemessages_login (login, status, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
