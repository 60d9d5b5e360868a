//! Issue 17's proof: does the SIP core scale with core shards? 1 and then 2 shards, each on its
//! own thread, are fed prepared REGISTER and call sequences in process: real bytes, the real
//! parser and sanity check, a real transaction layer, registrar and call table per shard, the
//! sockets replaced by queues. No SIPp competes for the two cores.
//!
//! ```text
//! cargo bench -p b2bua --bench shards
//! REGISTERS=600000 CALLS=120000 RUNS=5 cargo bench -p b2bua --bench shards
//! cargo bench -p b2bua --bench shards -- register      # or `calls`: one kind only
//! SHARDS=2 cargo bench -p b2bua --bench shards         # shard counts to run (default 1,2)
//! ```
//!
//! Also `REG_PHONES` (2,000) and `CALLERS` (500): the operations in flight. `PAIR=1` adds a
//! control row, `1+1`: two independent one-shard worlds (nothing of the SIP core shared) run
//! side by side on two threads of this process, started together. What two shards fall short
//! of 2× and the pair does too is what two busy threads cost each other on this machine, not
//! the shard model. Without `--bench`
//! (`cargo test --benches`) it makes a small checked run of both kinds.
//!
//! It lives in `b2bua` because the call table is the top core driven here; the registrar is a
//! dev-dependency. The server crate would pull tokio, SQLite and the rest in for nothing.
//!
//! Each shard owns a `TransactionLayer`, a `Registrar` (one location table and one nonce keeper
//! for all, `Registrar::share`) and a `Calls`, all `set_shard(i, n)`, and an inbox (its
//! socket's receive queue and its hand-off channel in one: a queue under a lock, a wake-up when
//! the shard sleeps on it). The "kernel" puts a phone's datagram in the inbox of the shard the
//! server's steering program names (`sip_message::steer`, computed by its plain-code twin: responses by
//! our Via branch, the caller's ACK and BYE by our Contact's `shard` parameter), else of the
//! shard its address hashes to (as `SO_REUSEPORT` hashes the 4-tuple), not its owner's: with 2
//! shards about half of those (a call's INVITE, every REGISTER) are parsed and checked on the
//! wrong shard and handed to their owner ([`sip_message::shard::owner`]) through the owner's
//! inbox, once, one push per message as the server's `NetTx::hand`, not parsed again. `STEER=0`
//! leaves every datagram to the hash (the server before the program). The shard loop is the dispatcher's: up to 64
//! inputs at one `now`, `handle_message`, events to the registrar or the call table, transmits
//! out, then due timers.
//!
//! The phones run in the shard thread that sent to them: after each round of inputs they read
//! what the shard sent them and queue their next datagrams (one push per inbox, as a
//! `sendmmsg`). The thread's CPU clock is read around them, so their share (with the kernel's
//! part: queueing, waking the other shard) is reported apart; "CPU µs/op" includes it.
//!
//! - REGISTER: each phone sends prepared REGISTERs with a valid MD5 digest (nonces fetched
//!   from the registrar beforehand with an unauthenticated REGISTER, `nc` counting up) and
//!   sends the next one when it gets 200. An op is one authenticated REGISTER answered 200
//!   (SIPp's figures count a challenge plus an authenticated REGISTER).
//! - Calls: a trusted caller (no digest) sends a prepared INVITE to a registered callee; the
//!   callee answers the B-leg INVITE with 100, 180 and 200 (SDP); the caller ACKs the 200 and
//!   sends BYE at once; the callee answers the BYE 200. An op is one call whose INVITE and BYE
//!   the caller saw answered 200 (and that left a CDR). Each caller's Call-IDs are ones shard
//!   `i % n` owns, so a phone's state (its next INVITE, its counters) stays on one shard thread:
//!   a real phone's state is not in the server, and phones moved between the threads with every
//!   call cost two shards ~15 µs per call that the server does not spend (session 10). The
//!   shards still get half the calls each, and the INVITE still lands by the caller's address
//!   (half of them handed over). `SPREAD_CALLERS=1`: Call-IDs owned by whichever shard they
//!   hash to, as before.
//!
//! Every case ends by checking that every op got its answer and that no other answer came.
//! Not included: the server dispatcher's flood guard, metrics, logging, database writer
//! channel, and the sockets' syscalls. CPU is each shard thread's own
//! (`CLOCK_THREAD_CPUTIME_ID`): it does not grow with what else runs on the box, the wall time
//! does (the load average is printed before and after).

mod phones;
mod shard;

// the server's allocator: a handed message is freed by another thread than made it
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use b2bua::dialplan::{Action, DialPlan, Entry};
use b2bua::{B2buaConfig, Calls};
use bytes::Bytes;
use registrar::{Account, Binding, Reach, Registrar, RegistrarConfig};
use sip_transaction::{TimerConfig, TransactionLayer};

use phones::{addr, peer, CallerPhone, Item, RegPhone, World};
use phones::{CALLEE_IP, CALLER_IP, PORT_BASE, REALM, REG_IP};
use shard::{Shard, ShardReport};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Register,
    Calls,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Register => "REGISTER",
            Kind::Calls => "call",
        }
    }
}

/// Sizes of one case.
#[derive(Clone, Copy)]
struct Size {
    /// REGISTER phones (each sends `ops / phones` REGISTERs), or callers (as many callees).
    phones: usize,
    ops: usize,
}

/// The cores of `count` shards: one location table and one nonce keeper for all.
fn cores(count: usize) -> (Vec<TransactionLayer>, Vec<Registrar>, Vec<Calls>) {
    let mut regs = vec![Registrar::new(RegistrarConfig::default(), b"bench secret")];
    for _ in 1..count {
        let r = regs[0].share(RegistrarConfig::default());
        regs.push(r);
    }
    let epoch = (Instant::now(), 1_700_000_000_000);
    let mut txs = Vec::new();
    let mut calls = Vec::new();
    for (i, r) in regs.iter_mut().enumerate() {
        r.set_shard(i, count);
        let mut tx = TransactionLayer::with_seed(TimerConfig::default(), 7 + i as u64);
        tx.set_shard(i, count);
        txs.push(tx);
        let mut c = Calls::new(B2buaConfig::default(), 42 + i as u64, epoch);
        c.set_shard(i, count);
        c.set_dial_plan(DialPlan::new(vec![Entry::new("", 0, Action::UserLookup)]));
        calls.push(c);
    }
    (txs, regs, calls)
}

/// A binding of callee `login` at `at`, as a REGISTER would have made it.
fn callee_binding(login: &str, at: std::net::SocketAddr) -> Binding {
    let now = Instant::now();
    let contact = format!("sip:{login}@{at}");
    Binding {
        key: contact.clone(),
        contact,
        instance: None,
        reg_id: None,
        q_milli: None,
        expires_at: now + Duration::from_secs(3600),
        call_id: format!("reg-{login}@bench"),
        cseq: 1,
        source: peer(at),
        reach: Reach::Flow,
        path: None,
        user_agent: None,
        updated_at: now,
    }
}

/// One measured case.
struct Row {
    kind: Kind,
    shards: usize,
    /// `PAIR=1`: two independent one-shard worlds run side by side in this process (a control:
    /// what two threads of one process cost each other when they share nothing of the SIP core).
    pair: bool,
    ops: u64,
    wall: Duration,
    shard: ShardReport,
    /// 2xx the server resent before the caller's ACK came (noted under the table).
    resent_2xx: u64,
}

impl Row {
    fn ops_per_s(&self) -> f64 {
        self.ops as f64 / self.wall.as_secs_f64()
    }
    fn cpu_us_per_op(&self) -> f64 {
        self.shard.cpu_ns as f64 / 1e3 / self.ops as f64
    }
    fn ops_per_cpu_s(&self) -> f64 {
        self.ops as f64 / (self.shard.cpu_ns as f64 / 1e9)
    }
    fn phones_us_per_op(&self) -> f64 {
        self.shard.phone_ns as f64 / 1e3 / self.ops as f64
    }
    /// Ops per CPU second of the shards' own work (the phones' taken out).
    fn ops_per_core_cpu_s(&self) -> f64 {
        self.ops as f64 / ((self.shard.cpu_ns - self.shard.phone_ns) as f64 / 1e9)
    }
    fn per_op(&self, n: u64) -> f64 {
        n as f64 / self.ops as f64
    }
}

/// Prepares the phones of `kind`, runs them against `count` shards and checks every op got
/// its answer.
fn case(kind: Kind, count: usize, size: Size, gate: Option<&Barrier>) -> Row {
    let (txs, mut regs, calls) = cores(count);
    let location = regs[0].location().clone();
    let mut accounts = HashMap::new();
    let ops_per_phone = size.ops.div_ceil(size.phones);
    let (mut reg_phones, mut callers, mut first) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..size.phones {
        let port = PORT_BASE + u16::try_from(i).expect("phones fit in the port range");
        match kind {
            Kind::Register => {
                let login = format!("u{i}");
                let account = Account::with_password(&login, REALM, &format!("pw{i}"), true);
                let me = addr(REG_IP, port);
                let requests =
                    phones::prepared_registers(&mut regs[0], &account, me, ops_per_phone);
                first.push((me, requests[0].clone()));
                reg_phones.push(RegPhone {
                    requests,
                    next: AtomicUsize::new(1),
                });
                accounts.insert(login, account);
            }
            Kind::Calls => {
                let callee = format!("b{i}");
                location.upsert(&callee, callee_binding(&callee, addr(CALLEE_IP, port)));
                let account = Account::with_password(&callee, REALM, "x", true);
                accounts.insert(callee, account);
                let invites: Vec<Bytes> = (0..ops_per_phone)
                    .map(|k| phones::invite(i, k, count))
                    .collect();
                first.push((addr(CALLER_IP, port), invites[0].clone()));
                callers.push(CallerPhone {
                    invites,
                    next: AtomicUsize::new(1),
                    answered: AtomicUsize::new(0),
                });
            }
        }
    }
    let total = (ops_per_phone * size.phones) as u64;
    let (finished_tx, finished) = std::sync::mpsc::channel();
    let world = Arc::new(World::new(count, reg_phones, callers, total, finished_tx));
    // every phone's first datagram waits on its socket when the clock starts
    for (me, data) in first {
        world.send_now(me, data);
    }
    let accounts = Arc::new(accounts);
    // a pair's two worlds start together, both prepared
    if let Some(gate) = gate {
        gate.wait();
    }
    let start = Arc::new(Barrier::new(count + 1));
    let threads: Vec<_> = txs
        .into_iter()
        .zip(regs)
        .zip(calls)
        .enumerate()
        .map(|(index, ((tx, registrar), calls))| {
            let shard = Shard {
                index,
                count,
                tx,
                registrar,
                calls,
                accounts: accounts.clone(),
                world: world.clone(),
                report: ShardReport::default(),
                transmits: Vec::new(),
            };
            let start = start.clone();
            std::thread::Builder::new()
                .name(format!("shard-{index}"))
                .spawn(move || shard.run(index, &start))
                .expect("spawn")
        })
        .collect();
    start.wait();
    let t0 = Instant::now();
    let end = finished.recv_timeout(Duration::from_secs(env("TIMEOUT_S", 300)));
    for inbox in &world.inboxes {
        inbox.push(Item::Stop);
    }
    let mut sum = ShardReport::default();
    for t in threads {
        sum.add(&t.join().expect("shard thread"));
    }
    // nothing dropped: every op got its final answer, and nothing else came
    let w = &world;
    let Ok(end) = end else {
        panic!(
            "{kind:?} x{count}: {} of {total} done after 300 s ({} INVITE 200, {} BYE 200, {} unexpected)",
            w.done.load(Relaxed),
            w.invite_ok.load(Relaxed),
            w.bye_ok.load(Relaxed),
            w.failed.load(Relaxed),
        );
    };
    let failed = w.failed.load(Relaxed);
    assert_eq!(failed, 0, "{kind:?} x{count}: {failed} unexpected messages");
    match kind {
        Kind::Register => assert_eq!(w.register_ok.load(Relaxed), total, "REGISTERs answered 200"),
        Kind::Calls => {
            assert_eq!(w.invite_ok.load(Relaxed), total, "INVITEs answered 200");
            assert_eq!(w.bye_ok.load(Relaxed), total, "BYEs answered 200");
            assert_eq!(sum.cdrs, total, "a CDR per call");
        }
    }
    Row {
        kind,
        shards: count,
        pair: false,
        ops: total,
        wall: end - t0,
        shard: sum,
        resent_2xx: w.resent_2xx.load(Relaxed),
    }
}

/// Two one-shard cases at once on two threads of this process; their sums (wall: the longer).
fn pair_case(kind: Kind, size: Size) -> Row {
    let gate = Barrier::new(2);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| case(kind, 1, size, Some(&gate)));
        let b = s.spawn(|| case(kind, 1, size, Some(&gate)));
        (a.join().expect("pair a"), b.join().expect("pair b"))
    });
    let mut shard = a.shard;
    shard.add(&b.shard);
    Row {
        kind,
        shards: 2,
        pair: true,
        ops: a.ops + b.ops,
        wall: a.wall.max(b.wall),
        shard,
        resent_2xx: a.resent_2xx + b.resent_2xx,
    }
}

fn print_row(run: usize, r: &Row) {
    let shards = if r.pair {
        "1+1".to_string()
    } else {
        r.shards.to_string()
    };
    println!(
        "| {run} | {} | {shards} | {} | {:.2} | {:.0} | {:.1} | {:.1} | {:.0} | {:.0} | {:.2} | {:.3} |",
        r.kind.name(),
        r.ops,
        r.wall.as_secs_f64(),
        r.ops_per_s(),
        r.cpu_us_per_op(),
        r.phones_us_per_op(),
        r.ops_per_cpu_s(),
        r.ops_per_core_cpu_s(),
        r.per_op(r.shard.handoffs),
        r.per_op(r.shard.sleeps),
    );
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// The medians of `kind` with 1 and 2 shards, and their ratios.
fn summary(rows: &[Row], kind: Kind) {
    let of = |n: usize, f: fn(&Row) -> f64| {
        median(
            rows.iter()
                .filter(|r| r.kind == kind && r.shards == n && !r.pair)
                .map(f)
                .collect(),
        )
    };
    let pair = |f: fn(&Row) -> f64| Some((of(1, f)?, of(2, f)?));
    let (Some(rate), Some(cpu), Some(core)) = (
        pair(Row::ops_per_s),
        pair(Row::ops_per_cpu_s),
        pair(Row::ops_per_core_cpu_s),
    ) else {
        return;
    };
    let name = kind.name();
    let pairs: Vec<f64> = rows
        .iter()
        .filter(|r| r.kind == kind && r.pair)
        .map(Row::ops_per_s)
        .collect();
    if let Some(p) = median(pairs) {
        println!(
            "{name}: median ops/s of two independent one-shard worlds side by side {p:.0}: {:.2}x one shard",
            p / rate.0
        );
    }
    println!(
        "{name}: median ops/s {:.0} (1 shard), {:.0} (2 shards): {:.2}x",
        rate.0,
        rate.1,
        rate.1 / rate.0
    );
    println!(
        "{name}: median ops per shard-CPU second {:.0} and {:.0}: {:.2}x (2 free cores: {:.2}x); the shards' own work without the phones {:.0} and {:.0}: {:.2}x (2 free cores: {:.2}x)",
        cpu.0,
        cpu.1,
        cpu.1 / cpu.0,
        2.0 * cpu.1 / cpu.0,
        core.0,
        core.1,
        core.1 / core.0,
        2.0 * core.1 / core.0,
    );
}

fn main() {
    // a test runner asking for the list of tests: this binary has none
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let bench = std::env::args().any(|a| a == "--bench");
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| a.to_lowercase())
        .collect();
    let wanted = |k: Kind| {
        let name = k.name().to_lowercase();
        only.is_empty()
            || only
                .iter()
                .any(|o| name.starts_with(o.trim_end_matches('s')))
    };
    // `cargo test --benches` runs this without --bench: a small run of both kinds, checked
    let (reg, call, runs) = if bench {
        (
            Size {
                phones: env("REG_PHONES", 2_000),
                ops: env("REGISTERS", 300_000),
            },
            Size {
                phones: env("CALLERS", 500),
                ops: env("CALLS", 60_000),
            },
            env("RUNS", 3),
        )
    } else {
        (
            Size {
                phones: 20,
                ops: 400,
            },
            Size {
                phones: 10,
                ops: 100,
            },
            1,
        )
    };
    let counts: Vec<usize> = std::env::var("SHARDS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2]);
    let pair = env("PAIR", 0) == 1;
    println!("load average before: {}", loadavg());
    println!(
        "kernel steering program: {}",
        if phones::steering(2) {
            "on"
        } else {
            "off (STEER=0)"
        }
    );
    println!("| run | op | shards | ops | wall s | ops/s | CPU µs/op | of which phones | ops/CPU s | ops/CPU s without phones | handoffs/op | sleeps/op |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for run in 1..=runs {
        for (kind, size) in [(Kind::Register, reg), (Kind::Calls, call)] {
            if !wanted(kind) {
                continue;
            }
            for &count in &counts {
                let r = case(kind, count, size, None);
                print_row(run, &r);
                if r.resent_2xx > 0 {
                    notes.push(format!(
                        "run {run}, {} shards: {} 2xx resent before the ACK came (T1 = 500 ms)",
                        r.shards, r.resent_2xx
                    ));
                }
                rows.push(r);
            }
            if pair {
                let r = pair_case(kind, size);
                print_row(run, &r);
                rows.push(r);
            }
        }
    }
    println!("load average after: {}", loadavg());
    for n in notes {
        println!("{n}");
    }
    summary(&rows, Kind::Register);
    summary(&rows, Kind::Calls);
}
