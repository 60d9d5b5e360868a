-- ferroswitch billing (MariaDB/MySQL): tariffs and their prefix rows, billed accounts, the
-- ledger, reservations of calls in progress, plans, and the cost columns of the CDR.
-- Keep table and column names identical to sql/sqlite/0006_billing.sql.
-- Money is BIGINT micro-units of the currency (1.5 EUR = 1500000): exact on both backends.

CREATE TABLE tariffs (
    id                 BIGINT       NOT NULL AUTO_INCREMENT,
    name               VARCHAR(64)  NOT NULL,
    currency           VARCHAR(8)   NOT NULL DEFAULT 'EUR',
    rounding_decimals  INT          NOT NULL DEFAULT 6,
    rounding_mode      VARCHAR(16)  NOT NULL DEFAULT 'up',
    utc_offset_minutes INT          NOT NULL DEFAULT 0,
    bill_onnet         INT          NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    UNIQUE KEY tariffs_name (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE tariff_rows (
    id           BIGINT       NOT NULL AUTO_INCREMENT,
    tariff_id    BIGINT       NOT NULL,
    prefix       VARCHAR(32)  NOT NULL,
    description  VARCHAR(128) NOT NULL DEFAULT '',
    iso          VARCHAR(2)   NULL,
    from_minute  INT          NOT NULL DEFAULT 0,
    to_minute    INT          NOT NULL DEFAULT 1440,
    price_micros BIGINT       NOT NULL,
    fee_micros   BIGINT       NULL,
    inc_first    INT          NOT NULL DEFAULT 60,
    inc_next     INT          NOT NULL DEFAULT 60,
    min_duration INT          NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    UNIQUE KEY tariff_rows_key (tariff_id, prefix, from_minute),
    KEY tariff_rows_iso (tariff_id, iso),
    CONSTRAINT tariff_rows_tariff FOREIGN KEY (tariff_id) REFERENCES tariffs (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE billing_accounts (
    login               VARCHAR(128) NOT NULL,
    tariff_id           BIGINT       NOT NULL,
    kind                VARCHAR(16)  NOT NULL DEFAULT 'prepaid',
    balance_micros      BIGINT       NOT NULL DEFAULT 0,
    credit_limit_micros BIGINT       NOT NULL DEFAULT 0,
    currency            VARCHAR(8)   NOT NULL DEFAULT 'EUR',
    PRIMARY KEY (login),
    CONSTRAINT billing_accounts_tariff FOREIGN KEY (tariff_id) REFERENCES tariffs (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE billing_ledger (
    id                   BIGINT       NOT NULL AUTO_INCREMENT,
    login                VARCHAR(128) NOT NULL,
    at_ms                BIGINT       NOT NULL,
    amount_micros        BIGINT       NOT NULL,
    balance_after_micros BIGINT       NOT NULL,
    kind                 VARCHAR(16)  NOT NULL,
    reason               VARCHAR(255) NOT NULL DEFAULT '',
    call_id              VARCHAR(255) NULL,
    PRIMARY KEY (id),
    KEY billing_ledger_login (login, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE billing_reservations (
    call_key          VARCHAR(320) NOT NULL,
    node_id           VARCHAR(64)  NOT NULL,
    call_id           VARCHAR(255) NOT NULL,
    login             VARCHAR(128) NOT NULL,
    number            VARCHAR(128) NOT NULL,
    tariff_id         BIGINT       NOT NULL,
    prefix            VARCHAR(32)  NOT NULL,
    price_micros      BIGINT       NOT NULL,
    fee_micros        BIGINT       NOT NULL,
    inc_first         INT          NOT NULL,
    inc_next          INT          NOT NULL,
    min_duration      INT          NOT NULL,
    rounding_decimals INT          NOT NULL,
    rounding_mode     VARCHAR(16)  NOT NULL,
    bundle_id         BIGINT       NULL,
    bundle_seconds    BIGINT       NULL,
    start_ms          BIGINT       NOT NULL,
    answer_ms         BIGINT       NULL,
    max_ms            BIGINT       NOT NULL,
    seen_ms           BIGINT       NOT NULL,
    PRIMARY KEY (call_key),
    KEY billing_reservations_node (node_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE plans (
    id           BIGINT        NOT NULL AUTO_INCREMENT,
    name         VARCHAR(64)   NOT NULL,
    prefixes     VARCHAR(1024) NOT NULL,
    seconds      BIGINT        NOT NULL,
    days         INT           NOT NULL,
    price_micros BIGINT        NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    UNIQUE KEY plans_name (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE account_plans (
    id             BIGINT       NOT NULL AUTO_INCREMENT,
    login          VARCHAR(128) NOT NULL,
    plan_id        BIGINT       NOT NULL,
    seconds_left   BIGINT       NOT NULL,
    valid_from_ms  BIGINT       NOT NULL,
    valid_until_ms BIGINT       NOT NULL,
    PRIMARY KEY (id),
    KEY account_plans_login (login),
    CONSTRAINT account_plans_plan FOREIGN KEY (plan_id) REFERENCES plans (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

ALTER TABLE cdr ADD COLUMN cost_micros BIGINT NULL;
ALTER TABLE cdr ADD COLUMN rate_micros BIGINT NULL;
ALTER TABLE cdr ADD COLUMN tariff_prefix VARCHAR(32) NULL;
ALTER TABLE cdr ADD COLUMN billed_seconds BIGINT NULL;
