-- The call-control API's clients (docs/api.md): OAuth 2.0 client credentials.
-- Keep table and column names identical to sql/mysql/0011_api_clients.sql.
--
-- client_id: the public id an application sends to POST /oauth/token.
-- secret_hash: the PHC string of the secret (argon2id); the secret itself is never stored.
-- scope: the logins the client may act for, space separated; `*` for every login.
-- created_at: epoch seconds.
CREATE TABLE api_clients (
    client_id TEXT NOT NULL PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
