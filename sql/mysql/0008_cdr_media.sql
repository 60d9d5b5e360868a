-- CDRs: the callee leg's Call-ID and the relay's media counters per direction (MariaDB/MySQL).
-- Keep table and column names identical to sql/sqlite/0008_cdr_media.sql (the comments there
-- say more).
ALTER TABLE cdr ADD COLUMN b_call_id VARCHAR(255) NULL;
ALTER TABLE cdr ADD COLUMN media_a_bytes BIGINT NULL;
ALTER TABLE cdr ADD COLUMN media_b_bytes BIGINT NULL;
ALTER TABLE cdr ADD COLUMN media_a_lost BIGINT NULL;
ALTER TABLE cdr ADD COLUMN media_b_lost BIGINT NULL;
