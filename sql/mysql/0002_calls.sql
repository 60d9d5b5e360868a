-- ferroswitch calls schema (MariaDB / MySQL, InnoDB, utf8mb4): dialing plan, gateways, ring
-- groups, local dialing plan, CDRs, and the accounts' voicemail route.
-- Keep table and column names identical to sql/sqlite/0002_calls.sql.
-- Types are limited to what sqlx's Any driver reads on both backends: INT/BIGINT (signed;
-- booleans 0/1, epoch seconds or milliseconds), VARCHAR (not TEXT: the Any driver sees MySQL
-- TEXT as BLOB), BLOB. Collation utf8mb4_bin: prefixes and logins compare byte by byte, as on
-- SQLite. VARCHAR lengths are mirrored by the length checks in crates/store/src/limits.rs.

-- The dialing plan: the longest matching prefix wins, then the lowest priority. `action` is the
-- text form the `dialplan` crate parses (`user-lookup`, `gateway:gw1,gw2 strip=2 prepend=48`,
-- `service:sip:...`, `voicemail:sip:...`, `ring-group:NAME`, `reject:CODE`).
CREATE TABLE dialing_plan (
    id          BIGINT        NOT NULL AUTO_INCREMENT,
    prefix      VARCHAR(64)   NOT NULL,
    priority    INT           NOT NULL DEFAULT 0,
    action      VARCHAR(1024) NOT NULL,
    description VARCHAR(255)  NULL,
    PRIMARY KEY (id),
    KEY dialing_plan_prefix (prefix)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- OFFNET gateways, named by the plan's `gateway:` actions. `address` is `host:port` with an IP
-- literal (`[v6]:port` for IPv6); `caller_id`, when set, replaces the From user part.
CREATE TABLE gateways (
    name      VARCHAR(64)  NOT NULL,
    address   VARCHAR(64)  NOT NULL,
    transport VARCHAR(8)   NOT NULL DEFAULT 'udp',
    caller_id VARCHAR(128) NULL,
    enabled   INT          NOT NULL DEFAULT 1,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Ring groups ("user groups"): a callable login with ordered members (comma-separated logins).
-- step_delay 0 rings every member at once; > 0 adds one member every step_delay seconds, at most
-- max_steps of them (0 = all).
CREATE TABLE ring_groups (
    login      VARCHAR(128)  NOT NULL,
    members    VARCHAR(4096) NOT NULL,
    step_delay BIGINT        NOT NULL DEFAULT 0,
    max_steps  BIGINT        NOT NULL DEFAULT 0,
    PRIMARY KEY (login)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- voipswitch's api.local_dialing_plan: prefix -> SIP server FQDN, served to softphones as JSON.
CREATE TABLE local_dialing_plan (
    prefix VARCHAR(64)  NOT NULL,
    server VARCHAR(255) NOT NULL,
    PRIMARY KEY (prefix)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row per call attempt. Times are epoch milliseconds; duration_ms is answer -> end (0 when
-- unanswered); hangup_by is `caller`, `callee` or `system`.
CREATE TABLE cdr (
    id              BIGINT       NOT NULL AUTO_INCREMENT,
    call_id         VARCHAR(255) NOT NULL,
    caller          VARCHAR(128) NOT NULL,
    callee          VARCHAR(128) NOT NULL,
    dialed          VARCHAR(128) NOT NULL,
    routed_number   VARCHAR(128) NOT NULL,
    route           VARCHAR(255) NOT NULL,
    gateway         VARCHAR(64)  NULL,
    start_ms        BIGINT       NOT NULL,
    ringing_ms      BIGINT       NULL,
    answer_ms       BIGINT       NULL,
    end_ms          BIGINT       NOT NULL,
    duration_ms     BIGINT       NOT NULL DEFAULT 0,
    final_code      INT          NOT NULL,
    hangup_by       VARCHAR(16)  NOT NULL,
    media_a_packets BIGINT       NULL,
    media_b_packets BIGINT       NULL,
    node_id         VARCHAR(64)  NOT NULL,
    PRIMARY KEY (id),
    KEY cdr_start_ms (start_ms)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Where unanswered, busy or declined calls to the account go, when set (a sip: URI).
ALTER TABLE clientsshared ADD COLUMN voicemail_uri VARCHAR(1024) NULL;
