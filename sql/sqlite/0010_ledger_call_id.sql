-- A charge is written exactly once: the check looks the call up in the ledger by its Call-ID.
-- Without this index that check scanned every ledger line of the caller (issue 20's load run).
CREATE INDEX billing_ledger_call_id ON billing_ledger (call_id);
