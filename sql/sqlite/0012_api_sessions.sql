-- The call-control API's registration sessions and notification channels (docs/api.md), so
-- that a restart keeps them. Keep table and column names identical to
-- sql/mysql/0012_api_sessions.sql.
--
-- api_sessions: one row per registration session (POST /session).
--   id: `reg-` + 32 hex digits; login: the login it makes reachable; client_id: the API
--   client that made it; endpoint: `rtp` or `webrtc`; expires_at: epoch seconds (the expiry
--   of the token that made or last refreshed it). Rows past expires_at are purged.
CREATE TABLE api_sessions (
    id TEXT NOT NULL PRIMARY KEY,
    login TEXT NOT NULL,
    client_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX api_sessions_expires_at ON api_sessions (expires_at);

-- api_channels: one row per notification channel (POST /channels).
--   id: 32 hex digits (the WebSocket URL's capability); kind: `websocket`, `webhook` or
--   `pns`; login, client_id as above; url: the webhook's target (NULL otherwise); secret:
--   the webhook's HMAC-SHA256 key (hex; kept as is: the server signs with it); created_at:
--   epoch seconds. Channels live until deleted.
CREATE TABLE api_channels (
    id TEXT NOT NULL PRIMARY KEY,
    kind TEXT NOT NULL,
    login TEXT NOT NULL,
    client_id TEXT NOT NULL,
    url TEXT NULL,
    secret TEXT NULL,
    created_at INTEGER NOT NULL
);
