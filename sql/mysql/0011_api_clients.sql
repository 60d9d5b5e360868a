-- The call-control API's clients (MariaDB/MySQL). Keep table and column names identical to
-- sql/sqlite/0011_api_clients.sql (the comments there say more).
CREATE TABLE api_clients (
    client_id VARCHAR(64) NOT NULL PRIMARY KEY,
    secret_hash VARCHAR(255) NOT NULL,
    scope VARCHAR(1024) NOT NULL,
    created_at BIGINT NOT NULL
);
