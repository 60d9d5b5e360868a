-- ferroswitch foundation schema (SQLite).
-- Keep table and column names identical to sql/mysql/0001_foundation.sql.
-- Types are limited to what sqlx's Any driver reads on both backends:
-- INTEGER (booleans 0/1, epoch seconds), TEXT, BLOB.

-- Accounts (voipswitch name). The SIP password is kept in clear, as voipswitch does.
CREATE TABLE clientsshared (
    id_client    INTEGER PRIMARY KEY AUTOINCREMENT,
    login        TEXT    NOT NULL,
    password     TEXT    NOT NULL,
    display_name TEXT,
    tech_prefix  TEXT    NOT NULL DEFAULT '',
    enabled      INTEGER NOT NULL DEFAULT 1,
    created_at   INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);
CREATE UNIQUE INDEX clientsshared_login ON clientsshared (login);

-- Every device instance (+sip.instance) ever seen for a login.
CREATE TABLE aa_ue_instance (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    login      TEXT    NOT NULL,
    instance   TEXT    NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL
);
CREATE UNIQUE INDEX aa_ue_instance_login_instance ON aa_ue_instance (login, instance);

-- Push tokens, written by the operator API.
CREATE TABLE push_device_token (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id INTEGER NOT NULL REFERENCES aa_ue_instance (id) ON DELETE CASCADE,
    token       TEXT    NOT NULL,
    platform    TEXT    NOT NULL DEFAULT '',
    updated_at  INTEGER NOT NULL
);
CREATE INDEX push_device_token_instance_id ON push_device_token (instance_id);

-- Registrar bindings. binding_key is the registrar's identity of a binding
-- (instance + reg-id, or the contact URI).
CREATE TABLE location (
    login       TEXT    NOT NULL,
    binding_key TEXT    NOT NULL,
    contact     TEXT    NOT NULL,
    instance    TEXT,
    reg_id      INTEGER,
    q_milli     INTEGER,
    expires_at  INTEGER NOT NULL,
    call_id     TEXT    NOT NULL,
    cseq        INTEGER NOT NULL,
    received    TEXT    NOT NULL,
    transport   TEXT    NOT NULL,
    local_addr  TEXT    NOT NULL,
    node_id     TEXT    NOT NULL,
    path        TEXT,
    user_agent  TEXT,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (login, binding_key)
);
CREATE INDEX location_node_id ON location (node_id);
CREATE INDEX location_expires_at ON location (expires_at);
