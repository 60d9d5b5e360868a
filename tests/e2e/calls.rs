//! Calls end to end: SIPp callers and callees through the real binary's B2BUA, the dialing
//! plan, gateways and ring groups configured with the CLI, CDRs read back from the database.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{block, require_tool, scenario, Server, Site};

/// A free UDP port on 127.0.0.1 (bound, then released for SIPp to take).
pub(crate) use crate::harness::free_port;

/// A base port for a SIPp's media (`-mp`): SIPp binds its audio RTP there and its video RTP
/// two above (RTCP one above each), so the four ports from it must be free on both loopbacks.
/// Taken from 10000–19999: below the kernel's ephemeral ports (32768 up), which any test's
/// socket may be given at any moment (a free port from there left SIPp's video port taken:
/// "Unable to bind video RTP socket ... Address already in use"), and below the relay's
/// default range (20000–30000), so only another SIPp of a test wants them, and it checks too.
pub(crate) fn media_port() -> u16 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    let seed = u64::from(std::process::id()).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ nanos;
    // taken on ::1 only where IPv6 is there at all
    let free_v6 = |p: u16| !matches!(UdpSocket::bind(("::1", p)), Err(e) if e.kind() == std::io::ErrorKind::AddrInUse);
    for _ in 0..2_500 {
        let slot = seed.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % 2_500;
        let base = 10_000 + slot as u16 * 4;
        if (base..base + 4).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok() && free_v6(p)) {
            return base;
        }
    }
    panic!("no four free UDP ports in 10000-19999 for SIPp's media: what holds them?");
}

/// One SIPp process: a scenario, its injection rows, the local port it uses.
pub(crate) struct Sipp {
    args: Vec<String>,
    dir: PathBuf,
}

impl Sipp {
    pub(crate) fn new(site: &Site, name: &str, port: u16) -> Self {
        require_tool("sipp");
        let mut args: Vec<String> = vec!["-sf".into(), scenario(name).display().to_string()];
        args.extend(
            [
                "-t",
                "u1",
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-timeout",
                "40",
                "-timeout_error",
                "-nostdin",
                "-m",
                "1",
                "-trace_err",
            ]
            .map(String::from),
        );
        Self {
            args,
            dir: site.dir.path().to_owned(),
        }
    }

    pub(crate) fn rows(mut self, rows: &[&str]) -> Self {
        let inf = self
            .dir
            .join(format!("inf-{}.csv", crate::harness::rand_suffix()));
        let mut csv = String::from("SEQUENTIAL\n");
        for r in rows {
            csv.push_str(r);
            csv.push('\n');
        }
        std::fs::write(&inf, csv).unwrap();
        self.args.push("-inf".into());
        self.args.push(inf.display().to_string());
        self
    }

    /// Extra SIPp arguments.
    pub(crate) fn args(mut self, extra: &[&str]) -> Self {
        self.args.extend(extra.iter().map(|a| (*a).to_owned()));
        self
    }

    pub(crate) fn target(mut self, to: SocketAddr) -> Self {
        self.args.insert(0, to.to_string());
        self
    }

    fn command(&self) -> Command {
        let mut c = Command::new("sipp");
        c.args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    pub(crate) fn run(&self) -> (bool, String) {
        let out = self.command().output().expect("run sipp");
        (out.status.success(), text(&out.stdout, &out.stderr))
    }

    /// Starts it in the background (a callee waiting for its INVITE).
    pub(crate) fn spawn(&self) -> Running {
        let child = self.command().spawn().expect("spawn sipp");
        // give SIPp a moment to bind its port before anything is sent to it
        std::thread::sleep(Duration::from_millis(300));
        Running(Some(child))
    }
}

fn text(out: &[u8], err: &[u8]) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(out),
        String::from_utf8_lossy(err)
    )
}

/// A background SIPp; killed if dropped before `wait`.
pub(crate) struct Running(Option<Child>);

impl Running {
    /// Whether SIPp has exited already (it could not bind its port, say).
    pub(crate) fn exited(&mut self) -> bool {
        self.0
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))))
    }

    /// Kills it (if still running) and returns what it printed, for a failing test's message.
    pub(crate) fn kill_output(mut self) -> String {
        let mut child = self.0.take().unwrap();
        let _ = child.kill();
        let out = child.wait_with_output().expect("wait sipp");
        text(&out.stdout, &out.stderr)
    }

    pub(crate) fn wait(mut self) -> (bool, String) {
        let child = self.0.take().unwrap();
        let out = child.wait_with_output().expect("wait sipp");
        (out.status.success(), text(&out.stdout, &out.stderr))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Registers `login` from 127.0.0.1:`port` (the port a SIPp callee then listens on).
pub(crate) fn register_device(
    site: &Site,
    server: &Server,
    login: &str,
    password: &str,
    port: u16,
) {
    let (ok, out) = Sipp::new(site, "register.xml", port)
        .rows(&[&format!("{login};{password}")])
        .target(server.udp)
        .run();
    assert!(ok, "registering {login} from port {port} failed:\n{out}");
}

/// A callee device: registers, then runs `scenario` on the same port.
pub(crate) fn device(
    site: &Site,
    server: &Server,
    login: &str,
    password: &str,
    scenario: &str,
) -> Running {
    let port = free_port();
    register_device(site, server, login, password, port);
    Sipp::new(site, scenario, port).spawn()
}

/// Alice calls `callee` with the caller scenario `name`.
pub(crate) fn call(site: &Site, server: &Server, name: &str, callee: &str) -> (bool, String) {
    Sipp::new(site, name, free_port())
        .rows(&[&format!("alice;wonderland;{callee}")])
        .target(server.udp)
        .run()
}

pub(crate) fn cli_ok(site: &Site, args: &[&str]) {
    let (ok, out, err) = site.cli(args);
    assert!(ok, "ferroswitch {args:?} failed:\n{out}{err}");
}

/// The latest CDRs (newest first), waiting up to 5 s for `n` of them to be written.
pub(crate) fn cdrs(site: &Site, n: usize) -> Vec<store::CdrRow> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let rows = block(async {
            let s = store::Store::connect(&site.db_url).await.unwrap();
            let r = s.list_cdrs(50).await.unwrap();
            s.close().await;
            r
        });
        if rows.len() >= n || Instant::now() > deadline {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn site() -> Site {
    let site = Site::new();
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    site
}

pub(crate) fn assert_ok(what: &str, (ok, out): (bool, String)) {
    assert!(ok, "{what} failed:\n{out}");
}

#[test]
fn onnet_call_answered_then_bye_from_the_caller_with_cdr() {
    let site = site();
    let server = site.start();
    let bob = device(&site, &server, "bob", "builder", "uas_answer.xml");
    assert_ok("caller", call(&site, &server, "uac_call.xml", "bob"));
    assert_ok("callee", bob.wait());
    let rows = cdrs(&site, 1);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let c = &rows[0];
    assert_eq!((c.caller.as_str(), c.callee.as_str()), ("alice", "bob"));
    assert_eq!(c.final_code, 200);
    assert_eq!(c.hangup_by, "caller");
    assert_eq!(c.route, "user-lookup");
    assert!(c.answer_ms.is_some() && c.ringing_ms.is_some());
    assert!(c.duration_ms >= 400, "talked ~500 ms: {c:?}");
    server.stop();
}

#[test]
fn two_devices_one_answers_the_other_is_cancelled() {
    let site = site();
    let server = site.start();
    let d1 = device(&site, &server, "bob", "builder", "uas_ring_cancelled.xml");
    let d2 = device(&site, &server, "bob", "builder", "uas_answer_late.xml");
    assert_ok("caller", call(&site, &server, "uac_call.xml", "bob"));
    assert_ok("answering device", d2.wait());
    assert_ok("cancelled device", d1.wait());
    server.stop();
}

#[test]
fn two_devices_one_declines_the_other_still_answers() {
    let site = site();
    let server = site.start();
    let d1 = device(&site, &server, "bob", "builder", "uas_603.xml");
    let d2 = device(&site, &server, "bob", "builder", "uas_answer_late.xml");
    assert_ok("caller", call(&site, &server, "uac_call.xml", "bob"));
    assert_ok("declining device", d1.wait());
    assert_ok("answering device", d2.wait());
    server.stop();
}

#[test]
fn busy_unknown_and_offline_callees() {
    let site = site();
    site.add_account("carol", "secret");
    let server = site.start();
    let bob = device(&site, &server, "bob", "builder", "uas_486.xml");
    assert_ok("busy", call(&site, &server, "uac_expect_486.xml", "bob"));
    assert_ok("callee", bob.wait());
    assert_ok(
        "unknown",
        call(&site, &server, "uac_expect_404.xml", "nobody"),
    );
    assert_ok(
        "offline",
        call(&site, &server, "uac_expect_480.xml", "carol"),
    );
    let rows = cdrs(&site, 3);
    let codes: Vec<u16> = rows.iter().map(|c| c.final_code).collect();
    assert_eq!(codes, [480, 404, 486], "newest first");
    server.stop();
}

#[test]
fn caller_cancels_while_ringing() {
    let site = site();
    let server = site.start();
    let bob = device(&site, &server, "bob", "builder", "uas_ring_cancelled.xml");
    assert_ok("caller", call(&site, &server, "uac_cancel.xml", "bob"));
    assert_ok("callee", bob.wait());
    let rows = cdrs(&site, 1);
    assert_eq!(rows[0].final_code, 487);
    assert_eq!(rows[0].hangup_by, "caller");
    server.stop();
}

#[test]
fn callee_hangs_up() {
    let site = site();
    let server = site.start();
    let bob = device(&site, &server, "bob", "builder", "uas_hangup.xml");
    assert_ok(
        "caller",
        call(&site, &server, "uac_call_remote_bye.xml", "bob"),
    );
    assert_ok("callee", bob.wait());
    let rows = cdrs(&site, 1);
    assert_eq!(rows[0].hangup_by, "callee");
    server.stop();
}

#[test]
fn hold_and_resume_with_reinvite() {
    let site = site();
    let server = site.start();
    let bob = device(&site, &server, "bob", "builder", "uas_hold.xml");
    assert_ok("caller", call(&site, &server, "uac_call_hold.xml", "bob"));
    assert_ok("callee", bob.wait());
    server.stop();
}

#[test]
fn wrong_password_gets_407_then_403() {
    let site = site();
    let server = site.start();
    let (ok, out) = Sipp::new(&site, "uac_wrong_password.xml", free_port())
        .rows(&["alice;not-her-password;bob"])
        .target(server.udp)
        .run();
    assert!(ok, "{out}");
    server.stop();
}

#[test]
fn no_answer_times_out_with_480() {
    let site = Site::with_calls("call_timeout = 5\n");
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    let server = site.start();
    let bob = device(&site, &server, "bob", "builder", "uas_ring_forever.xml");
    let t = Instant::now();
    assert_ok("caller", call(&site, &server, "uac_expect_480.xml", "bob"));
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(15),
        "call_timeout = 5 honoured: {waited:?}"
    );
    assert_ok("callee", bob.wait());
    let rows = cdrs(&site, 1);
    assert_eq!(
        (rows[0].final_code, rows[0].hangup_by.as_str()),
        (480, "system")
    );
    server.stop();
}

#[test]
fn offnet_call_fails_over_from_a_dead_gateway_to_a_live_one() {
    let site = Site::with_calls("gateway_timeout = 1\n");
    site.add_account("alice", "wonderland");
    let dead = free_port(); // nothing listens there
    let live = free_port();
    cli_ok(
        &site,
        &["gateway", "add", "dead", &format!("127.0.0.1:{dead}")],
    );
    cli_ok(
        &site,
        &[
            "gateway",
            "add",
            "live",
            &format!("127.0.0.1:{live}"),
            "--caller-id",
            "48500100200",
        ],
    );
    cli_ok(
        &site,
        &["route", "add", "00", "gateway:dead,live strip=2 prepend=48"],
    );
    cli_ok(&site, &["route", "add", "", "user-lookup"]);
    let server = site.start();
    let gw = Sipp::new(&site, "uas_answer.xml", live).spawn();
    let t = Instant::now();
    assert_ok("caller", call(&site, &server, "uac_call.xml", "0012345"));
    // gateway_timeout = 1: the silent gateway is given up after a second, not the default 5
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert_ok("live gateway", gw.wait());
    let rows = cdrs(&site, 1);
    let c = &rows[0];
    assert_eq!(c.final_code, 200);
    assert_eq!(c.gateway.as_deref(), Some("live"));
    assert_eq!(c.routed_number, "4812345");
    assert_eq!(c.route, "gateway");
    server.stop();
}

#[test]
fn ring_group_all_at_once_and_one_by_one() {
    for (step, min_setup) in [("0", Duration::ZERO), ("2", Duration::from_secs(2))] {
        let site = site();
        site.add_account("carol", "c4rol");
        site.add_account("dave", "d4ve");
        cli_ok(
            &site,
            &[
                "group",
                "add",
                "sales",
                "--members",
                "alice,carol,dave",
                "--step-delay",
                step,
            ],
        );
        cli_ok(&site, &["route", "add", "sales", "ring-group:sales"]);
        cli_ok(&site, &["route", "add", "", "user-lookup"]);
        let server = site.start();
        // carol only rings; dave answers; alice (the caller) is never rung
        let carol = device(&site, &server, "carol", "c4rol", "uas_ring_cancelled.xml");
        let dave = device(&site, &server, "dave", "d4ve", "uas_answer.xml");
        let t = Instant::now();
        assert_ok("caller", call(&site, &server, "uac_call.xml", "sales"));
        assert!(t.elapsed() >= min_setup, "step {step}: {:?}", t.elapsed());
        assert_ok("dave", dave.wait());
        assert_ok("carol", carol.wait());
        let rows = cdrs(&site, 1);
        assert_eq!(
            (rows[0].route.as_str(), rows[0].callee.as_str()),
            ("ring-group", "sales")
        );
        server.stop();
    }
}

#[test]
fn local_dialing_plan_is_served_as_json_on_the_admin_api() {
    use std::io::{Read, Write};
    let site = Site::with_sections("[admin]\nlisten = \"127.0.0.1:0\"\n");
    cli_ok(&site, &["local-plan", "add", "44", "sip1.company.com"]);
    cli_ok(&site, &["local-plan", "add", "int", "offnet.company.com"]);
    let server = site.start();
    let addr = server.http.expect("the admin API listens");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /api/local-dialing-plan HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("application/json"), "{resp}");
    let body = resp.split("\r\n\r\n").nth(1).unwrap();
    assert_eq!(
        body,
        r#"[{"prefix":"44","server":"sip1.company.com"},{"prefix":"int","server":"offnet.company.com"}]"#
    );
    server.stop();
}

/// A baresip config directory for `login` (TLS to the server, auto-answer, Opus with a sine
/// tone as the microphone (ausine only does 48 kHz)).
pub(crate) fn baresip_dir(site: &Site, server: &Server, login: &str, password: &str) -> PathBuf {
    let cfg = site.dir.path().join(format!("baresip-{login}"));
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config"),
        "sip_listen 127.0.0.1:0\nsip_verify_server no\nmodule_path /usr/lib/baresip/modules\n\
         module opus.so\nmodule ausine.so\nmodule menu.so\nmodule account.so\n\
         audio_player nil\naudio_source ausine,440\naudio_alert nil\ncall_max_calls 4\n",
    )
    .unwrap();
    std::fs::write(
        cfg.join("accounts"),
        format!(
            "<sip:{login}@127.0.0.1;transport=tls>;auth_pass={password};outbound=\"sip:{};transport=tls\";regint=600;answermode=auto;audio_codecs=opus\n",
            server.tls
        ),
    )
    .unwrap();
    std::fs::write(cfg.join("contacts"), "").unwrap();
    cfg
}

/// Two real softphones: bob's baresip registers and auto-answers, alice's baresip dials him
/// through ferroswitch over TLS; the CDR shows the answered call.
#[test]
fn baresip_calls_baresip_through_the_b2bua() {
    require_tool("baresip");
    let site = Site::with_registrar("algorithms = [\"MD5\"]\n");
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    let server = site.start();
    let bob_cfg = baresip_dir(&site, &server, "bob", "builder");
    let mut bob = Command::new("baresip")
        .arg("-f")
        .arg(&bob_cfg)
        .args(["-t", "30"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("baresip");
    let b = site.wait_bindings("bob's baresip binding", |b| {
        b.iter().any(|b| b.login == "bob")
    });
    assert_eq!(b[0].transport, "tls");
    let alice_cfg = baresip_dir(&site, &server, "alice", "wonderland");
    let mut alice = Command::new("baresip")
        .arg("-f")
        .arg(&alice_cfg)
        .args(["-t", "8", "-e", "/dial sip:bob@127.0.0.1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("baresip");
    // alice hangs up when her -t runs out; the CDR is written at the end of the call
    let deadline = Instant::now() + Duration::from_secs(20);
    let rows = loop {
        let rows = cdrs(&site, 1);
        if !rows.is_empty() || Instant::now() > deadline {
            break rows;
        }
    };
    let _ = alice.kill();
    let out = alice
        .wait_with_output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let _ = bob.kill();
    let bob_out = bob
        .wait_with_output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    assert_eq!(rows.len(), 1, "no CDR; alice's baresip said:\n{out:?}");
    let c = &rows[0];
    assert_eq!((c.caller.as_str(), c.callee.as_str()), ("alice", "bob"));
    assert_eq!(c.final_code, 200, "{c:?}\nalice: {out:?}\nbob: {bob_out:?}");
    assert!(c.answer_ms.is_some(), "{c:?}");
    server.stop();
}

#[test]
fn routing_changes_made_with_the_cli_apply_without_a_restart() {
    let site = site();
    let server = site.start();
    cli_ok(&site, &["route", "add", "900", "reject:603"]);
    cli_ok(&site, &["route", "add", "", "user-lookup"]);
    server
        .wait_log(20, |l| {
            l.contains("routing reloaded") && l.contains("plan_entries=2")
        })
        .unwrap_or_else(|seen| panic!("no reload; log:\n{}", seen.join("\n")));
    assert_ok(
        "rejected by the new entry",
        call(&site, &server, "uac_expect_603.xml", "900123"),
    );
    let rows = cdrs(&site, 1);
    assert_eq!(
        (rows[0].route.as_str(), rows[0].final_code),
        ("reject", 603)
    );
    server.stop();
}

#[test]
fn a_trusted_peer_calls_without_a_challenge() {
    let site = site();
    // trusted_peers is a top-level key: it goes before the first table
    let cfg = std::fs::read_to_string(site.config()).unwrap();
    let cfg = cfg.replacen(
        "node_id = \"test1\"\n",
        "node_id = \"test1\"\ntrusted_peers = [\"127.0.0.1\"]\n",
        1,
    );
    std::fs::write(site.config(), cfg).unwrap();
    let server = site.start();
    let bob = device(&site, &server, "bob", "builder", "uas_answer.xml");
    assert_ok(
        "trusted caller",
        call(&site, &server, "uac_trusted_call.xml", "bob"),
    );
    assert_ok("callee", bob.wait());
    let rows = cdrs(&site, 1);
    assert_eq!(
        (rows[0].caller.as_str(), rows[0].final_code),
        ("alice", 200)
    );
    server.stop();
}

#[test]
fn info_and_refer_cross_to_the_other_leg_and_their_answers_come_back() {
    let site = site();
    let server = site.start();
    let bob = device(&site, &server, "bob", "builder", "uas_info_refer.xml");
    assert_ok(
        "caller",
        call(&site, &server, "uac_call_info_refer.xml", "bob"),
    );
    assert_ok("callee (checks the DTMF body and the Refer-To)", bob.wait());
    server.stop();
}

#[test]
fn a_server_bound_to_the_wildcard_address_advertises_a_real_one() {
    let site = site();
    let cfg = std::fs::read_to_string(site.config()).unwrap();
    let cfg = cfg.replacen(
        "transport = \"udp\"\naddress = \"127.0.0.1:0\"",
        "transport = \"udp\"\naddress = \"0.0.0.0:0\"",
        1,
    );
    std::fs::write(site.config(), cfg).unwrap();
    let server = site.start();
    assert!(server.udp.ip().is_unspecified(), "{}", server.udp);
    let target: SocketAddr = format!("127.0.0.1:{}", server.udp.port()).parse().unwrap();
    let port = free_port();
    let (ok, out) = Sipp::new(&site, "register.xml", port)
        .rows(&["bob;builder"])
        .target(target)
        .run();
    assert!(ok, "{out}");
    let bob = Sipp::new(&site, "uas_answer_no_wildcard.xml", port).spawn();
    let (ok, out) = Sipp::new(&site, "uac_call.xml", free_port())
        .rows(&["alice;wonderland;bob"])
        .target(target)
        .run();
    assert!(ok, "caller:\n{out}");
    let (ok, out) = bob.wait();
    assert!(ok, "callee saw 0.0.0.0 in the INVITE or BYE:\n{out}");
    server.stop();
}
