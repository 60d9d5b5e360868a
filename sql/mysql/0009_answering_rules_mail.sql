-- Answering rules and voicemail to email's retry state (MariaDB/MySQL). Keep table and column
-- names identical to sql/sqlite/0009_answering_rules_mail.sql.
--
-- answering_rules: an account's ordered rules (seed: "different actions for calls coming from
-- different caller IDs"); position orders them (0 first), the first rule whose caller prefix
-- ('*': any caller) matches in the situation decides. rule_when: always | busy | no-answer |
-- unavailable; action: voicemail | forward:NUMBER | reject:CODE | ring:SECONDS.
CREATE TABLE answering_rules (
    login     VARCHAR(128) NOT NULL,
    position  BIGINT       NOT NULL,
    caller    VARCHAR(64)  NOT NULL,
    rule_when VARCHAR(16)  NOT NULL,
    action    VARCHAR(160) NOT NULL,
    PRIMARY KEY (login, position)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Voicemail to email: attempts made so far and when the next one is due (Unix ms), so a
-- restart resumes where it stopped.
ALTER TABLE voicemessages ADD COLUMN mail_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE voicemessages ADD COLUMN mail_next_ms BIGINT NOT NULL DEFAULT 0;
CREATE INDEX voicemessages_mail ON voicemessages (mail_status, mail_next_ms);
