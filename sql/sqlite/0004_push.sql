-- ferroswitch push wake-up (SQLite). Keep table and column names identical to
-- sql/mysql/0004_push.sql.
--
-- push_device_token gets one row per device instance (the unique index), the RFC 8599
-- pn-param next to the token (pn-prid) and the platform (pn-provider, or what the app said:
-- apns, apns-voip, fcm, ...). A removed token is kept as a row with an empty token (a
-- tombstone) so that a running server, which re-reads the rows changed since its last read,
-- sees the removal too.
ALTER TABLE push_device_token ADD COLUMN param TEXT NOT NULL DEFAULT '';
DROP INDEX push_device_token_instance_id;
CREATE UNIQUE INDEX push_device_token_instance_id ON push_device_token (instance_id);
CREATE INDEX push_device_token_updated_at ON push_device_token (updated_at);

-- How long the wake-up of a pushed device took (push posted -> the device answered or
-- picked the call up), NULL when the call was not parked.
ALTER TABLE cdr ADD COLUMN wakeup_ms INTEGER;
