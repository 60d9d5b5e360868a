-- ferroswitch push wake-up (MariaDB/MySQL). Keep table and column names identical to
-- sql/sqlite/0004_push.sql.
--
-- push_device_token gets one row per device instance (the unique key), the RFC 8599
-- pn-param next to the token (pn-prid) and the platform (pn-provider, or what the app said:
-- apns, apns-voip, fcm, ...). A removed token is kept as a row with an empty token (a
-- tombstone) so that a running server, which re-reads the rows changed since its last read,
-- sees the removal too.
ALTER TABLE push_device_token ADD COLUMN param VARCHAR(255) NOT NULL DEFAULT '';
ALTER TABLE push_device_token ADD UNIQUE KEY push_device_token_instance (instance_id);
ALTER TABLE push_device_token ADD KEY push_device_token_updated_at (updated_at);

-- How long the wake-up of a pushed device took (push posted -> the device answered or
-- picked the call up), NULL when the call was not parked.
ALTER TABLE cdr ADD COLUMN wakeup_ms BIGINT NULL;
