//! Spawning the server on port 0 and running SIPp against it.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_ferroswitch");
pub(crate) const SIPP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/sipp");

/// A free port for a test to fix in a config or give SIPp (`-p`), free for both TCP and UDP
/// on 127.0.0.1 and ::1. Taken from 30000–32767: below the kernel's ephemeral ports (32768
/// up), which any socket of any test may be given between the check here and the bind there
/// (a port from there was once taken in that gap: "cannot listen on admin API ...: Address
/// already in use"), and above the relay's default range (20000–30000) and SIPp's media
/// ports ([`crate::calls::media_port`], 10000–19999). Other tests' processes pick from a
/// different point of the range (seeded by process id and clock) and check too.
pub(crate) fn free_port() -> u16 {
    use std::net::{TcpListener, UdpSocket};
    use std::sync::atomic::{AtomicU64, Ordering};
    const LOW: u16 = 30_000;
    const SLOTS: u64 = 2_768;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    let seed = u64::from(std::process::id()).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ nanos;
    let in_use =
        |r: std::io::Result<()>| matches!(r, Err(e) if e.kind() == std::io::ErrorKind::AddrInUse);
    let free = |p: u16| {
        TcpListener::bind(("127.0.0.1", p)).is_ok()
            && UdpSocket::bind(("127.0.0.1", p)).is_ok()
            // taken on ::1 only where IPv6 is there at all
            && !in_use(TcpListener::bind(("::1", p)).map(drop))
            && !in_use(UdpSocket::bind(("::1", p)).map(drop))
    };
    for _ in 0..SLOTS {
        let slot = seed.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % SLOTS;
        let port = LOW + slot as u16;
        if free(port) {
            return port;
        }
    }
    panic!("no free port in 30000-32767 on loopback: what holds them?");
}

/// A scratch directory holding a config and a SQLite database.
pub(crate) struct Site {
    /// Shared with every [`Server`] started from it: a server outlives a dropped `Site` (as
    /// in `site().start()`) with its database directory still there (the directory going away
    /// under a running server made its new SQLite connections fail, "unable to open database
    /// file").
    pub(crate) dir: std::sync::Arc<tempfile::TempDir>,
    /// The database the server and the test both open.
    pub(crate) db_url: String,
}

impl Site {
    /// Config with UDP, TCP and TLS listeners on 127.0.0.1:0, MD5 first (SIPp 3.6 only does MD5).
    pub(crate) fn new() -> Self {
        Self::with_registrar("algorithms = [\"MD5\", \"SHA-256\"]\n")
    }

    pub(crate) fn with_registrar(registrar_extra: &str) -> Self {
        Self::build(registrar_extra, "data_dir = \"data\"\n", "")
    }

    /// Default settings plus a `[calls]` section with `calls` in it.
    pub(crate) fn with_calls(calls: &str) -> Self {
        Self::with_sections(&format!("[calls]\n{calls}"))
    }

    /// Default settings plus whole config sections (`[admin]`, `[media]`, ...).
    pub(crate) fn with_sections(sections: &str) -> Self {
        Self::build(
            "algorithms = [\"MD5\", \"SHA-256\"]\n",
            "data_dir = \"data\"\n",
            sections,
        )
    }

    /// `[registrar]` extras and whole config sections.
    pub(crate) fn with_registrar_and_sections(registrar_extra: &str, sections: &str) -> Self {
        Self::build(registrar_extra, "data_dir = \"data\"\n", sections)
    }

    /// Default registrar settings on the given `[database]` body.
    pub(crate) fn with_database(database: &str) -> Self {
        Self::build("algorithms = [\"MD5\", \"SHA-256\"]\n", database, "")
    }

    fn build(registrar_extra: &str, database: &str, extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = format!(
            r#"node_id = "test1"

[[listener]]
transport = "udp"
address = "127.0.0.1:0"

[[listener]]
transport = "tcp"
address = "127.0.0.1:0"

[[listener]]
transport = "tls"
address = "127.0.0.1:0"

[tls]
certificate = "tls/cert.pem"
private_key = "tls/key.pem"
generate_self_signed = true

[registrar]
realm = "ferroswitch.test"
{registrar_extra}
[database]
{database}
[log]
level = "info,ferroswitch=debug"

{extra}
"#
        );
        std::fs::write(dir.path().join("ferroswitch.toml"), cfg).expect("write config");
        let db_url = match database.split_once("url = \"") {
            Some((_, rest)) => rest.split('"').next().unwrap_or_default().to_owned(),
            None => format!(
                "sqlite://{}",
                dir.path().join("data/ferroswitch.db").display()
            ),
        };
        Self {
            dir: std::sync::Arc::new(dir),
            db_url,
        }
    }

    pub(crate) fn config(&self) -> PathBuf {
        self.dir.path().join("ferroswitch.toml")
    }

    /// Runs a CLI command with this site's config; returns (success, stdout, stderr).
    pub(crate) fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(BIN)
            .arg("-c")
            .arg(self.config())
            .args(args)
            .output()
            .expect("run ferroswitch");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub(crate) fn add_account(&self, login: &str, password: &str) {
        let (ok, _, err) = self.cli(&["account", "add", login, "--password", password]);
        assert!(ok, "account add {login} failed: {err}");
    }

    /// Every binding row in the site's database.
    pub(crate) fn bindings(&self) -> Vec<store::BindingRecord> {
        block(async {
            let s = store::Store::connect(&self.db_url).await.expect("open db");
            let b = s.load_bindings(None).await.expect("load bindings");
            s.close().await;
            b
        })
    }

    /// Writes are flushed asynchronously: polls the database (5 s at most) until `pred` holds.
    pub(crate) fn wait_bindings(
        &self,
        what: &str,
        pred: impl Fn(&[store::BindingRecord]) -> bool,
    ) -> Vec<store::BindingRecord> {
        for _ in 0..100 {
            let b = self.bindings();
            if pred(&b) {
                return b;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{what}: database holds {:#?}", self.bindings());
    }

    /// Runs the SIPp scenario `name` (from tests/sipp) once per row against `target`, with
    /// this site's scratch directory for SIPp's files.
    pub(crate) fn sipp(
        &self,
        name: &str,
        target: SocketAddr,
        transport: &str,
        rows: &[&str],
    ) -> (bool, String) {
        sipp(self.dir.path(), &scenario(name), target, transport, rows)
    }

    pub(crate) fn start(&self) -> Server {
        Server::start(&self.dir, &self.config(), &[])
    }

    /// Starts the server with `ferroswitch run` options (`--sip 0`, `--stun off`, ...).
    pub(crate) fn start_with(&self, run_options: &[&str]) -> Server {
        Server::start(&self.dir, &self.config(), run_options)
    }
}

/// A running server; killed on drop.
pub(crate) struct Server {
    child: Child,
    pub(crate) udp: SocketAddr,
    pub(crate) tcp: SocketAddr,
    pub(crate) tls: SocketAddr,
    /// The admin HTTP API, when configured.
    pub(crate) http: Option<SocketAddr>,
    /// The STUN listener, when configured.
    pub(crate) stun: Option<SocketAddr>,
    /// The log lines up to and including "ferroswitch ready".
    pub(crate) startup_log: Vec<String>,
    log: mpsc::Receiver<String>,
    /// The site's directory (config, database), kept while the server runs.
    _dir: std::sync::Arc<tempfile::TempDir>,
}

impl Server {
    fn start(dir: &std::sync::Arc<tempfile::TempDir>, config: &Path, run_options: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .arg("-c")
            .arg(config)
            .arg("run")
            .args(run_options)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ferroswitch");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if std::env::var_os("FERRO_TEST_LOG").is_some() {
                    eprintln!("[server] {line}");
                }
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut udp, mut tcp, mut tls, mut http, mut stun) = (None, None, None, None, None);
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => panic!(
                    "server did not become ready; log so far:\n{}",
                    seen.join("\n")
                ),
            };
            if let Some(rest) = line.split("listening on ").nth(1) {
                let mut it = rest.split_whitespace();
                let (t, a) = (it.next().unwrap_or(""), it.next().unwrap_or(""));
                let a: SocketAddr = a.parse().expect("listening address");
                match t {
                    "udp" => udp = Some(a),
                    "tcp" => tcp = Some(a),
                    "tls" => tls = Some(a),
                    "http" => http = Some(a),
                    "stun" => stun = Some(a),
                    _ => {}
                }
            }
            let ready = line.contains("ferroswitch ready");
            seen.push(line);
            if ready {
                break;
            }
        }
        Self {
            child,
            udp: udp.expect("udp"),
            tcp: tcp.expect("tcp"),
            tls: tls.expect("tls"),
            http,
            stun,
            startup_log: seen,
            log: rx,
            _dir: dir.clone(),
        }
    }

    /// The server's resident memory now, in MB (`/proc/PID/status`).
    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server runs");
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS");
        kb / 1000.0
    }

    /// Waits up to `secs` for a log line matching `pred` (log lines arrive through a pipe, a
    /// little after the server acted); returns every line read meanwhile on failure.
    pub(crate) fn wait_log(
        &self,
        secs: u64,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String, Vec<String>> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut seen = Vec::new();
        while let Ok(line) = self
            .log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if pred(&line) {
                return Ok(line);
            }
            seen.push(line);
        }
        Err(seen)
    }

    /// Sends `signal` (`HUP`, `TERM`, `INT`) to the server.
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Asserts that the server said at start it runs `n` core shards.
    /// How many core shards the server runs, from its start log (one logs no shard line).
    pub(crate) fn shards(&self) -> usize {
        self.startup_log
            .iter()
            .find_map(|l| {
                l.split("SIP core in ")
                    .nth(1)?
                    .split(' ')
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(1)
    }

    pub(crate) fn assert_shards(&self, n: usize) {
        let line = format!("SIP core in {n} shards");
        assert!(
            self.startup_log.iter().any(|l| l.contains(&line)),
            "{line:?} not in the start log: {:#?}",
            self.startup_log
        );
    }

    /// Every log line the server writes within `secs` (and what it wrote since the last read).
    pub(crate) fn log_for(&self, secs: u64) -> Vec<String> {
        self.wait_log(secs, |_| false).unwrap_err()
    }

    /// Waits up to `secs` for the process to exit; its status, or `None` if still running.
    pub(crate) fn wait_exit(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM and wait: a clean shutdown flushes pending writes.
    pub(crate) fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not stop within 15 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loud skip, recorded for scripts/test's summary (`test_support::skipped`).
pub(crate) fn skipped(why: &str) {
    test_support::skipped("e2e", why);
}

/// Whether `program` answers `--version`. When it does not: a failure under
/// FERRO_REQUIRE_TOOLS=1 (CI), else a loud, recorded skip naming the Debian `package`.
pub(crate) fn optional_tool(program: &str, package: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("FERRO_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{program} not found (apt-get install {package}) and FERRO_REQUIRE_TOOLS=1"
        );
        skipped(&format!("{program} not found (apt-get install {package})"));
    }
    found
}

pub(crate) fn require_tool(name: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{name} is not installed: run `bash .ci/run` (or apt-get install -y sip-tester stunnel4) first");
}

/// Runs a SIPp scenario once per line of `rows` (fields separated by ';') against `target`.
/// `transport` is SIPp's `-t` value (`u1` or `t1`). Returns SIPp's exit status and output.
pub(crate) fn sipp(
    dir: &Path,
    scenario: &Path,
    target: SocketAddr,
    transport: &str,
    rows: &[&str],
) -> (bool, String) {
    require_tool("sipp");
    let inf = dir.join(format!("inf-{}.csv", rand_suffix()));
    let mut csv = String::from("SEQUENTIAL\n");
    for r in rows {
        csv.push_str(r);
        csv.push('\n');
    }
    std::fs::write(&inf, csv).expect("write injection file");
    let out = Command::new("sipp")
        .arg(target.to_string())
        .args(["-sf"])
        .arg(scenario)
        .args(["-inf"])
        .arg(&inf)
        .args([
            "-t",
            transport,
            "-i",
            "127.0.0.1",
            "-m",
            &rows.len().to_string(),
            "-r",
            "50",
        ])
        .args(["-timeout", "20", "-timeout_error", "-nostdin"])
        .stdin(Stdio::null())
        .output();
    let out = out.expect("run sipp");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub(crate) fn scenario(name: &str) -> PathBuf {
    Path::new(SIPP_DIR).join(name)
}

pub(crate) fn rand_suffix() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() ^ rand::random::<u64>() as u128
    )
}

/// Runs a future to completion on a fresh current-thread runtime.
pub(crate) fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// A fresh database on the local MariaDB for one test, dropped when this goes out of scope.
pub(crate) struct MariaDb {
    name: String,
}

const MARIADB_ADMIN: &str = "mysql://root@127.0.0.1:3306/test";

impl MariaDb {
    /// `None` (after a loud SKIPPED line) when no MariaDB answers at 127.0.0.1:3306, unless
    /// `FERRO_REQUIRE_MARIADB=1` (CI), which makes that a failure.
    pub(crate) fn create(prefix: &str) -> Option<Self> {
        use sqlx::Connection as _;
        let name = format!("{prefix}_{}", std::process::id());
        let created = block(async {
            let mut c = sqlx::MySqlConnection::connect(MARIADB_ADMIN).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                .execute(&mut c)
                .await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut c)
                .await?;
            c.close().await
        });
        match created {
            Ok(()) => Some(Self { name }),
            Err(e) => {
                assert!(
                    std::env::var("FERRO_REQUIRE_MARIADB").as_deref() != Ok("1"),
                    "MariaDB required (FERRO_REQUIRE_MARIADB=1) but unreachable: {e}"
                );
                skipped(&format!("{prefix}: no MariaDB at 127.0.0.1:3306 ({e})"));
                None
            }
        }
    }

    /// The database's URL through `port` (3306, or a proxy in front of it).
    pub(crate) fn url(&self, port: u16) -> String {
        format!("mysql://root@127.0.0.1:{port}/{}", self.name)
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        use sqlx::Connection as _;
        let name = self.name.clone();
        let _ = block(async move {
            let mut c = sqlx::MySqlConnection::connect(MARIADB_ADMIN).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                .execute(&mut c)
                .await?;
            c.close().await
        });
    }
}

/// A REGISTER without Contact (a query) for the account in `row` (`login;password`); SIPp
/// fails unless the 200 lists a Contact matching the regular expression `contact`.
pub(crate) fn sipp_query(
    dir: &Path,
    target: SocketAddr,
    row: &str,
    contact: &str,
) -> (bool, String) {
    let query = std::fs::read_to_string(scenario("query.xml")).expect("query.xml");
    let q = dir.join(format!("query-{}.xml", rand_suffix()));
    std::fs::write(&q, query.replace("[field2]", contact)).expect("write scenario");
    sipp(dir, &q, target, "u1", &[row])
}

/// The local port of every UDP socket process `pid` holds (its `/proc/PID/fd` against
/// `/proc/net/udp` and `udp6`), one entry per socket.
pub(crate) fn udp_sockets_of(pid: u32) -> Vec<u16> {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|l| {
                    let l = l.to_string_lossy().into_owned();
                    Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    ["/proc/net/udp", "/proc/net/udp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|t| t.lines().skip(1).map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let port = u16::from_str_radix(cols.get(1)?.rsplit(':').next()?, 16).ok()?;
            inodes.contains(*cols.get(9)?).then_some(port)
        })
        .collect()
}
