-- ferroswitch billing (SQLite): tariffs and their prefix rows, billed accounts, the ledger,
-- reservations of calls in progress, plans, and the cost columns of the CDR.
-- Keep table and column names identical to sql/mysql/0006_billing.sql.
-- Money is INTEGER micro-units of the currency (1.5 EUR = 1500000): exact on both backends.

-- A tariff: rounding of each call's cost (decimals kept, up | half-up | down), the time zone of
-- its time-of-day rows (minutes east of UTC) and whether ONNET calls are rated (0: free).
CREATE TABLE tariffs (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT    NOT NULL UNIQUE,
    currency           TEXT    NOT NULL DEFAULT 'EUR',
    rounding_decimals  INTEGER NOT NULL DEFAULT 6,
    rounding_mode      TEXT    NOT NULL DEFAULT 'up',
    utc_offset_minutes INTEGER NOT NULL DEFAULT 0,
    bill_onnet         INTEGER NOT NULL DEFAULT 0
);

-- Prefix rows. from_minute/to_minute 0/1440 is the whole-day row of a prefix; any other range
-- (minutes after midnight, start inclusive, end exclusive, wrapping over midnight when
-- from > to) is a time-of-day variant of it. fee_micros NULL on a variant: the row's fee.
CREATE TABLE tariff_rows (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tariff_id    INTEGER NOT NULL REFERENCES tariffs (id) ON DELETE CASCADE,
    prefix       TEXT    NOT NULL,
    description  TEXT    NOT NULL DEFAULT '',
    iso          TEXT,
    from_minute  INTEGER NOT NULL DEFAULT 0,
    to_minute    INTEGER NOT NULL DEFAULT 1440,
    price_micros INTEGER NOT NULL,
    fee_micros   INTEGER,
    inc_first    INTEGER NOT NULL DEFAULT 60,
    inc_next     INTEGER NOT NULL DEFAULT 60,
    min_duration INTEGER NOT NULL DEFAULT 0,
    UNIQUE (tariff_id, prefix, from_minute)
);
CREATE INDEX tariff_rows_iso ON tariff_rows (tariff_id, iso);

-- A billed account (an account without a row here is not rated). kind: prepaid | postpaid;
-- a postpaid balance may go down to -credit_limit_micros.
CREATE TABLE billing_accounts (
    login               TEXT    NOT NULL PRIMARY KEY,
    tariff_id           INTEGER NOT NULL REFERENCES tariffs (id),
    kind                TEXT    NOT NULL DEFAULT 'prepaid',
    balance_micros      INTEGER NOT NULL DEFAULT 0,
    credit_limit_micros INTEGER NOT NULL DEFAULT 0,
    currency            TEXT    NOT NULL DEFAULT 'EUR'
);

-- Every change of a balance, with the balance after it. kind: call | credit | debit | settle.
CREATE TABLE billing_ledger (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    login                TEXT    NOT NULL,
    at_ms                INTEGER NOT NULL,
    amount_micros        INTEGER NOT NULL,
    balance_after_micros INTEGER NOT NULL,
    kind                 TEXT    NOT NULL,
    reason               TEXT    NOT NULL DEFAULT '',
    call_id              TEXT
);
CREATE INDEX billing_ledger_login ON billing_ledger (login, id);

-- A rated call in progress, with the price it was authorized at. Deleted in the transaction
-- that charges it (with its CDR), or settled at the next start of its node.
CREATE TABLE billing_reservations (
    call_key          TEXT    NOT NULL PRIMARY KEY,
    node_id           TEXT    NOT NULL,
    call_id           TEXT    NOT NULL,
    login             TEXT    NOT NULL,
    number            TEXT    NOT NULL,
    tariff_id         INTEGER NOT NULL,
    prefix            TEXT    NOT NULL,
    price_micros      INTEGER NOT NULL,
    fee_micros        INTEGER NOT NULL,
    inc_first         INTEGER NOT NULL,
    inc_next          INTEGER NOT NULL,
    min_duration      INTEGER NOT NULL,
    rounding_decimals INTEGER NOT NULL,
    rounding_mode     TEXT    NOT NULL,
    bundle_id         INTEGER,
    bundle_seconds    INTEGER,
    start_ms          INTEGER NOT NULL,
    answer_ms         INTEGER,
    max_ms            INTEGER NOT NULL,
    seen_ms           INTEGER NOT NULL
);
CREATE INDEX billing_reservations_node ON billing_reservations (node_id);

-- Plans (bundles) for sale: seconds of calls to the comma-separated prefixes, valid for days.
CREATE TABLE plans (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL UNIQUE,
    prefixes     TEXT    NOT NULL,
    seconds      INTEGER NOT NULL,
    days         INTEGER NOT NULL,
    price_micros INTEGER NOT NULL DEFAULT 0
);

-- Plans an account holds, with the seconds left.
CREATE TABLE account_plans (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    login          TEXT    NOT NULL,
    plan_id        INTEGER NOT NULL REFERENCES plans (id),
    seconds_left   INTEGER NOT NULL,
    valid_from_ms  INTEGER NOT NULL,
    valid_until_ms INTEGER NOT NULL
);
CREATE INDEX account_plans_login ON account_plans (login);

-- The cost of a rated call (micro-units), its price per minute, the tariff row that priced it
-- and the seconds billed; NULL for calls that were not rated.
ALTER TABLE cdr ADD COLUMN cost_micros INTEGER;
ALTER TABLE cdr ADD COLUMN rate_micros INTEGER;
ALTER TABLE cdr ADD COLUMN tariff_prefix TEXT;
ALTER TABLE cdr ADD COLUMN billed_seconds INTEGER;
