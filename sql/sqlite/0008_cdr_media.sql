-- CDRs: the callee leg's Call-ID and the relay's media counters per direction.
-- Keep table and column names identical to sql/mysql/0008_cdr_media.sql.
--
-- b_call_id: the Call-ID of our INVITE to the branch that answered (else the last one tried);
-- NULL when no branch was started. media_*_bytes: UDP payload bytes relayed from the caller
-- (a) and from the callee (b); media_*_lost: RTP packets lost before reaching the relay, from
-- the RTP sequence numbers (RFC 3550 A.3). NULL when the call did not go through the relay.
ALTER TABLE cdr ADD COLUMN b_call_id TEXT;
ALTER TABLE cdr ADD COLUMN media_a_bytes INTEGER;
ALTER TABLE cdr ADD COLUMN media_b_bytes INTEGER;
ALTER TABLE cdr ADD COLUMN media_a_lost INTEGER;
ALTER TABLE cdr ADD COLUMN media_b_lost INTEGER;
