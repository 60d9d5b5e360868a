-- The call-control API's registration sessions and notification channels (MariaDB/MySQL).
-- Keep table and column names identical to sql/sqlite/0012_api_sessions.sql (the comments
-- there say more).
CREATE TABLE api_sessions (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    login VARCHAR(128) NOT NULL,
    client_id VARCHAR(64) NOT NULL,
    endpoint VARCHAR(16) NOT NULL,
    expires_at BIGINT NOT NULL,
    INDEX api_sessions_expires_at (expires_at)
);

CREATE TABLE api_channels (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    kind VARCHAR(16) NOT NULL,
    login VARCHAR(128) NOT NULL,
    client_id VARCHAR(64) NOT NULL,
    url VARCHAR(2048) NULL,
    secret VARCHAR(128) NULL,
    created_at BIGINT NOT NULL
);
