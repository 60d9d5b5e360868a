-- ferroswitch accounts at rest and their change log (MariaDB/MySQL). Keep table and column
-- names identical to sql/sqlite/0005_account_secrets.sql (the comments there say more).
--
-- ha1 = MD5(login:realm:password), ha1b = SHA-256(login:realm:password), lower-case hex,
-- for ha1_realm; password is '' unless the operator keeps plain passwords.
ALTER TABLE clientsshared ADD COLUMN ha1 VARCHAR(64) NOT NULL DEFAULT '';
ALTER TABLE clientsshared ADD COLUMN ha1b VARCHAR(64) NOT NULL DEFAULT '';
ALTER TABLE clientsshared ADD COLUMN ha1_realm VARCHAR(255) NOT NULL DEFAULT '';

-- One row per account change, written with the change; login '' = reload every account.
CREATE TABLE account_changes (
    id         BIGINT       NOT NULL AUTO_INCREMENT,
    login      VARCHAR(128) NOT NULL,
    changed_at BIGINT       NOT NULL,
    PRIMARY KEY (id),
    KEY account_changes_changed_at (changed_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
