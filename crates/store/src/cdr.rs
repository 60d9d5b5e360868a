//! Call detail records: the `cdr` table, one row per call attempt.
//!
//! The B2BUA emits a record when a call attempt ends; the driver collects them and writes them
//! in batches ([`Store::insert_cdrs`]), off the SIP path.

use std::borrow::Cow;

use futures_util::TryStreamExt as _;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{limits, sql, Store, StoreError};

/// One call attempt. Times are epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdrRow {
    /// Call-ID of the caller's leg (A-leg).
    pub call_id: String,
    /// The caller's login.
    pub caller: String,
    /// Who was called: the login, ring group, or number sent to a gateway.
    pub callee: String,
    /// The user part as dialed.
    pub dialed: String,
    /// The number after the tech-prefix rule (what the dialing plan matched).
    pub routed_number: String,
    /// The route taken: `user-lookup`, `gateway:gw1`, `ring-group:sales`, `service`, ...
    pub route: String,
    /// The gateway that carried the call (the last one tried), for OFFNET calls.
    pub gateway: Option<String>,
    /// When the INVITE arrived.
    pub start_ms: i64,
    /// First ringing (180/183) from the callee side, if any.
    pub ringing_ms: Option<i64>,
    /// Answer (2xx), if any.
    pub answer_ms: Option<i64>,
    /// When the call (or attempt) ended.
    pub end_ms: i64,
    /// Answer → end; 0 if unanswered.
    pub duration_ms: i64,
    /// The final status code the caller got (200 for an answered call).
    pub final_code: u16,
    /// `caller`, `callee` or `system` (timeout, dead leg, shutdown).
    pub hangup_by: String,
    /// RTP packets relayed from the caller, when the call went through the relay.
    pub media_a_packets: Option<i64>,
    /// RTP packets relayed from the callee, when the call went through the relay.
    pub media_b_packets: Option<i64>,
    /// The ferroswitch node that handled the call.
    pub node_id: String,
    /// How long the wake-up of a pushed device took (push posted → it answered or picked the
    /// call up), when the call was parked for a push.
    pub wakeup_ms: Option<i64>,
    /// Call-ID of the callee's leg (B-leg): the branch that answered, else the last one tried.
    pub b_call_id: Option<String>,
    /// Bytes relayed from the caller and from the callee (UDP payload), through the relay.
    pub media_a_bytes: Option<i64>,
    pub media_b_bytes: Option<i64>,
    /// RTP packets from the caller and from the callee lost before the relay (sequence gaps).
    pub media_a_lost: Option<i64>,
    pub media_b_lost: Option<i64>,
}

const CDR_COLUMNS: &str = "call_id, caller, callee, dialed, routed_number, route, gateway, \
     start_ms, ringing_ms, answer_ms, end_ms, duration_ms, final_code, hangup_by, \
     media_a_packets, media_b_packets, node_id, wakeup_ms, b_call_id, media_a_bytes, \
     media_b_bytes, media_a_lost, media_b_lost";
const CDR_COLUMN_COUNT: usize = 23;
/// Rows per multi-row `INSERT`: 23 × 500 = 11500 placeholders, under SQLite's 32766.
const INSERT_CHUNK: usize = 500;

impl CdrRow {
    /// Every text field with its column size (see [`crate::limits`]).
    fn text_fields_mut(&mut self) -> impl Iterator<Item = (&mut String, usize)> {
        [
            (&mut self.call_id, limits::CALL_ID),
            (&mut self.caller, limits::NUMBER),
            (&mut self.callee, limits::NUMBER),
            (&mut self.dialed, limits::NUMBER),
            (&mut self.routed_number, limits::NUMBER),
            (&mut self.route, limits::ROUTE),
            (&mut self.hangup_by, limits::HANGUP_BY),
            (&mut self.node_id, limits::NODE_ID),
        ]
        .into_iter()
        .chain(self.gateway.as_mut().map(|g| (g, limits::GATEWAY_NAME)))
        .chain(self.b_call_id.as_mut().map(|c| (c, limits::CALL_ID)))
    }

    /// Whether every text field fits its column. Byte lengths bound character counts from
    /// above, so the common case is a few comparisons.
    fn fits(&self) -> bool {
        let fits = |s: &str, max: usize| s.len() <= max || s.chars().count() <= max;
        fits(&self.call_id, limits::CALL_ID)
            && fits(&self.caller, limits::NUMBER)
            && fits(&self.callee, limits::NUMBER)
            && fits(&self.dialed, limits::NUMBER)
            && fits(&self.routed_number, limits::NUMBER)
            && fits(&self.route, limits::ROUTE)
            && fits(&self.hangup_by, limits::HANGUP_BY)
            && fits(&self.node_id, limits::NODE_ID)
            && self
                .gateway
                .as_deref()
                .is_none_or(|g| fits(g, limits::GATEWAY_NAME))
            && self
                .b_call_id
                .as_deref()
                .is_none_or(|c| fits(c, limits::CALL_ID))
    }

    /// Cuts text fields to their column sizes. CDR fields come from the network (dialed
    /// numbers, Call-IDs): one overlong value must not make the whole batch fail, and the two
    /// backends must store the same thing.
    fn fit(&mut self) {
        for (field, max) in self.text_fields_mut() {
            limits::truncate(field, max);
        }
    }
}

fn cdr_from_row(row: &AnyRow) -> Result<CdrRow, sqlx::Error> {
    Ok(CdrRow {
        call_id: row.try_get("call_id")?,
        caller: row.try_get("caller")?,
        callee: row.try_get("callee")?,
        dialed: row.try_get("dialed")?,
        routed_number: row.try_get("routed_number")?,
        route: row.try_get("route")?,
        gateway: row.try_get("gateway")?,
        start_ms: row.try_get("start_ms")?,
        ringing_ms: row.try_get("ringing_ms")?,
        answer_ms: row.try_get("answer_ms")?,
        end_ms: row.try_get("end_ms")?,
        duration_ms: row.try_get("duration_ms")?,
        final_code: sql::int_column(row, "final_code")?,
        hangup_by: row.try_get("hangup_by")?,
        media_a_packets: row.try_get("media_a_packets")?,
        media_b_packets: row.try_get("media_b_packets")?,
        node_id: row.try_get("node_id")?,
        wakeup_ms: row.try_get("wakeup_ms")?,
        b_call_id: row.try_get("b_call_id")?,
        media_a_bytes: row.try_get("media_a_bytes")?,
        media_b_bytes: row.try_get("media_b_bytes")?,
        media_a_lost: row.try_get("media_a_lost")?,
        media_b_lost: row.try_get("media_b_lost")?,
    })
}

impl Store {
    /// Writes CDRs in one transaction (all or nothing), in multi-row inserts of 500. Text
    /// longer than its column (see [`crate::limits`]) is cut to fit (on a character boundary),
    /// with a warning in the log, rather than failing the batch.
    pub async fn insert_cdrs(&self, cdrs: &[CdrRow]) -> Result<(), StoreError> {
        if cdrs.is_empty() {
            return Ok(());
        }
        // Copies only of the rows that need cutting.
        let rows: Vec<Cow<'_, CdrRow>> = cdrs.iter().map(fitted).collect();
        let err = StoreError::query("insert_cdrs");
        let mut tx = sql::begin_write(&self.pool, self.backend)
            .await
            .map_err(&err)?;
        insert_cdr_rows(&mut tx, &rows).await.map_err(&err)?;
        tx.commit().await.map_err(&err)
    }

    /// The latest `limit` CDRs, newest first (by start time, then by insertion order).
    pub async fn list_cdrs(&self, limit: u32) -> Result<Vec<CdrRow>, StoreError> {
        let op = "list_cdrs";
        let statement =
            format!("SELECT {CDR_COLUMNS} FROM cdr ORDER BY start_ms DESC, id DESC LIMIT ?");
        let mut rows = sqlx::query(&statement)
            .bind(i64::from(limit))
            .fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(StoreError::query(op))? {
            out.push(cdr_from_row(&row).map_err(StoreError::query(op))?);
        }
        Ok(out)
    }
}

/// Inserts `rows` on `tx` in multi-row inserts of 500 (the rows fit their columns).
pub(crate) async fn insert_cdr_rows(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    rows: &[Cow<'_, CdrRow>],
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        // as long as the chunk: one row under light load, not 500
        let statement = insert_cdrs_sql(chunk.len());
        let mut q = sqlx::query(&statement);
        for c in chunk {
            q = q
                .bind(c.call_id.as_str())
                .bind(c.caller.as_str())
                .bind(c.callee.as_str())
                .bind(c.dialed.as_str())
                .bind(c.routed_number.as_str())
                .bind(c.route.as_str())
                .bind(c.gateway.as_deref())
                .bind(c.start_ms)
                .bind(c.ringing_ms)
                .bind(c.answer_ms)
                .bind(c.end_ms)
                .bind(c.duration_ms)
                .bind(i64::from(c.final_code))
                .bind(c.hangup_by.as_str())
                .bind(c.media_a_packets)
                .bind(c.media_b_packets)
                .bind(c.node_id.as_str())
                .bind(c.wakeup_ms)
                .bind(c.b_call_id.as_deref())
                .bind(c.media_a_bytes)
                .bind(c.media_b_bytes)
                .bind(c.media_a_lost)
                .bind(c.media_b_lost);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// `c` cut to its columns when it does not fit (a copy only then).
pub(crate) fn fitted(c: &CdrRow) -> Cow<'_, CdrRow> {
    if c.fits() {
        return Cow::Borrowed(c);
    }
    let mut c = c.clone();
    c.fit();
    tracing::warn!(call_id = %c.call_id, "CDR text longer than its column, cut to fit");
    Cow::Owned(c)
}

fn insert_cdrs_sql(rows: usize) -> String {
    format!(
        "INSERT INTO cdr ({CDR_COLUMNS}) VALUES {}",
        sql::values_tuples(rows, CDR_COLUMN_COUNT)
    )
}
