-- ferroswitch accounts at rest and their change log (SQLite). Keep table and column names
-- identical to sql/mysql/0005_account_secrets.sql.
--
-- clientsshared keeps digest HA1 values instead of the plain password, as Kamailio's
-- subscriber table does: ha1 = MD5(login:realm:password), ha1b = SHA-256(login:realm:password),
-- both lower-case hex, computed for ha1_realm. password is '' unless the operator keeps plain
-- passwords (database.keep_plain_passwords). Rows written before this migration hold only a
-- plain password: the server hashes them at start (Store::hash_plain_passwords).
ALTER TABLE clientsshared ADD COLUMN ha1 TEXT NOT NULL DEFAULT '';
ALTER TABLE clientsshared ADD COLUMN ha1b TEXT NOT NULL DEFAULT '';
ALTER TABLE clientsshared ADD COLUMN ha1_realm TEXT NOT NULL DEFAULT '';

-- One row per account change (add, password, settings, delete, import), written in the same
-- transaction as the change. Running servers read the rows after the last id they saw, every
-- second, and reload those logins. login '' means "many accounts changed: reload them all".
CREATE TABLE account_changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    login      TEXT    NOT NULL,
    changed_at INTEGER NOT NULL
);
CREATE INDEX account_changes_changed_at ON account_changes (changed_at);
