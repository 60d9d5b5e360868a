-- ferroswitch foundation schema (MariaDB / MySQL, InnoDB, utf8mb4).
-- Keep table and column names identical to sql/sqlite/0001_foundation.sql.
-- Types are limited to what sqlx's Any driver reads on both backends: INT/BIGINT (signed;
-- booleans 0/1, epoch seconds), VARCHAR (not TEXT: the Any driver sees MySQL TEXT as BLOB), BLOB.
-- Collation utf8mb4_bin: SIP user parts compare case-sensitively, as on SQLite.
-- VARCHAR lengths are mirrored by the length checks in crates/store/src/limits.rs.

-- Accounts (voipswitch name). The SIP password is kept in clear, as voipswitch does.
CREATE TABLE clientsshared (
    id_client    BIGINT       NOT NULL AUTO_INCREMENT,
    login        VARCHAR(128) NOT NULL,
    password     VARCHAR(255) NOT NULL,
    display_name VARCHAR(255) NULL,
    tech_prefix  VARCHAR(255) NOT NULL DEFAULT '',
    enabled      INT          NOT NULL DEFAULT 1,
    created_at   BIGINT       NOT NULL DEFAULT (UNIX_TIMESTAMP()),
    PRIMARY KEY (id_client),
    UNIQUE KEY clientsshared_login (login)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Every device instance (+sip.instance) ever seen for a login.
CREATE TABLE aa_ue_instance (
    id         BIGINT       NOT NULL AUTO_INCREMENT,
    login      VARCHAR(128) NOT NULL,
    instance   VARCHAR(255) NOT NULL,
    first_seen BIGINT       NOT NULL,
    last_seen  BIGINT       NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY aa_ue_instance_login_instance (login, instance)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Push tokens, written by the operator API.
CREATE TABLE push_device_token (
    id          BIGINT        NOT NULL AUTO_INCREMENT,
    instance_id BIGINT        NOT NULL,
    token       VARCHAR(1024) NOT NULL,
    platform    VARCHAR(32)   NOT NULL DEFAULT '',
    updated_at  BIGINT        NOT NULL,
    PRIMARY KEY (id),
    KEY push_device_token_instance_id (instance_id),
    CONSTRAINT push_device_token_instance_fk FOREIGN KEY (instance_id)
        REFERENCES aa_ue_instance (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Registrar bindings. binding_key is the registrar's identity of a binding
-- (instance + reg-id, or the contact URI). (128 + 512) * 4 bytes fits InnoDB's 3072-byte key limit.
CREATE TABLE location (
    login       VARCHAR(128)  NOT NULL,
    binding_key VARCHAR(512)  NOT NULL,
    contact     VARCHAR(2048) NOT NULL,
    instance    VARCHAR(255)  NULL,
    reg_id      BIGINT        NULL,
    q_milli     BIGINT        NULL,
    expires_at  BIGINT        NOT NULL,
    call_id     VARCHAR(255)  NOT NULL,
    cseq        BIGINT        NOT NULL,
    received    VARCHAR(64)   NOT NULL,
    transport   VARCHAR(8)    NOT NULL,
    local_addr  VARCHAR(64)   NOT NULL,
    node_id     VARCHAR(64)   NOT NULL,
    path        VARCHAR(4096) NULL,
    user_agent  VARCHAR(255)  NULL,
    updated_at  BIGINT        NOT NULL,
    PRIMARY KEY (login, binding_key),
    KEY location_node_id (node_id),
    KEY location_expires_at (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
