-- ferroswitch calls schema (SQLite): dialing plan, gateways, ring groups, local dialing plan,
-- CDRs, and the accounts' voicemail route.
-- Keep table and column names identical to sql/mysql/0002_calls.sql.
-- Types are limited to what sqlx's Any driver reads on both backends:
-- INTEGER (booleans 0/1, epoch seconds or milliseconds), TEXT, BLOB.

-- The dialing plan: the longest matching prefix wins, then the lowest priority. `action` is the
-- text form the `dialplan` crate parses (`user-lookup`, `gateway:gw1,gw2 strip=2 prepend=48`,
-- `service:sip:...`, `voicemail:sip:...`, `ring-group:NAME`, `reject:CODE`).
CREATE TABLE dialing_plan (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    prefix      TEXT    NOT NULL,
    priority    INTEGER NOT NULL DEFAULT 0,
    action      TEXT    NOT NULL,
    description TEXT
);
CREATE INDEX dialing_plan_prefix ON dialing_plan (prefix);

-- OFFNET gateways, named by the plan's `gateway:` actions. `address` is `host:port` with an IP
-- literal (`[v6]:port` for IPv6); `caller_id`, when set, replaces the From user part.
CREATE TABLE gateways (
    name      TEXT    NOT NULL PRIMARY KEY,
    address   TEXT    NOT NULL,
    transport TEXT    NOT NULL DEFAULT 'udp',
    caller_id TEXT,
    enabled   INTEGER NOT NULL DEFAULT 1
);

-- Ring groups ("user groups"): a callable login with ordered members (comma-separated logins).
-- step_delay 0 rings every member at once; > 0 adds one member every step_delay seconds, at most
-- max_steps of them (0 = all).
CREATE TABLE ring_groups (
    login      TEXT    NOT NULL PRIMARY KEY,
    members    TEXT    NOT NULL,
    step_delay INTEGER NOT NULL DEFAULT 0,
    max_steps  INTEGER NOT NULL DEFAULT 0
);

-- voipswitch's api.local_dialing_plan: prefix -> SIP server FQDN, served to softphones as JSON.
CREATE TABLE local_dialing_plan (
    prefix TEXT NOT NULL PRIMARY KEY,
    server TEXT NOT NULL
);

-- One row per call attempt. Times are epoch milliseconds; duration_ms is answer -> end (0 when
-- unanswered); hangup_by is `caller`, `callee` or `system`.
CREATE TABLE cdr (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id         TEXT    NOT NULL,
    caller          TEXT    NOT NULL,
    callee          TEXT    NOT NULL,
    dialed          TEXT    NOT NULL,
    routed_number   TEXT    NOT NULL,
    route           TEXT    NOT NULL,
    gateway         TEXT,
    start_ms        INTEGER NOT NULL,
    ringing_ms      INTEGER,
    answer_ms       INTEGER,
    end_ms          INTEGER NOT NULL,
    duration_ms     INTEGER NOT NULL DEFAULT 0,
    final_code      INTEGER NOT NULL,
    hangup_by       TEXT    NOT NULL,
    media_a_packets INTEGER,
    media_b_packets INTEGER,
    node_id         TEXT    NOT NULL
);
CREATE INDEX cdr_start_ms ON cdr (start_ms);

-- Where unanswered, busy or declined calls to the account go, when set (a sip: URI).
ALTER TABLE clientsshared ADD COLUMN voicemail_uri TEXT;
