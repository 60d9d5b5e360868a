//! The real softphones, headless, and the server they talk to.
//!
//! - [`Baresip`]: Debian `baresip-core` 1.0 in a pseudo-terminal (`script`, so its stdio UI
//!   prints what a user would see: incoming messages, presence changes), driven over its
//!   `ctrl_tcp` module (JSON in netstrings: commands in, call events out). Audio: the `ausine`
//!   source (a 440 Hz tone, Opus at 48 kHz), no player.
//! - [`Linphonec`]: Debian `linphone-cli` 5.1, commands on its stdin, its output read line by
//!   line. No sound card: it carries on without one.
//!
//! Every client runs under a time bound of its own (`baresip -t`, `timeout` around
//! linphonec), is told to quit and then killed by its process id when dropped.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use crate::harness::{optional_tool, Server, Site};

pub(crate) const DOMAIN: &str = "ferroswitch.test";

/// Whether baresip, linphonec and `script` are here: a failure under FERRO_REQUIRE_TOOLS=1,
/// else a recorded skip.
pub(crate) fn tools() -> bool {
    // `script --version` and `baresip -h` do not answer `--version` alike: ask the shell
    let found = |p: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {p}"))
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let mut ok = true;
    for (program, package) in [
        ("baresip", "baresip-core"),
        ("linphonec", "linphone-cli"),
        ("script", "util-linux"),
    ] {
        if !found(program) {
            // reports the missing tool the harness way (fails under FERRO_REQUIRE_TOOLS=1)
            ok &= optional_tool(program, package);
        }
    }
    ok
}

/// A site with UDP/TCP/TLS listeners, MD5 digest (baresip 1.0 answers MD5 only), the relay
/// anchoring on-net calls on a port range of its own, and the accounts.
pub(crate) fn site(accounts: &[&str]) -> Site {
    // a port range per test process, so parallel test binaries do not collide
    let base = 30_000 + (std::process::id() % 150) * 100;
    let site = Site::with_registrar_and_sections(
        "algorithms = [\"MD5\"]\n",
        &format!(
            "[media]\npublic_address = \"127.0.0.1\"\nbind_address = \"127.0.0.1\"\n\
             port_min = {base}\nport_max = {}\nanchor_onnet = true\n",
            base + 99
        ),
    );
    for a in accounts {
        site.add_account(a, &password(a));
    }
    // the presence core's DEBUG lines (subscriptions, NOTIFY answers) are what the list
    // test reads
    let cfg = std::fs::read_to_string(site.config()).unwrap();
    let cfg = cfg.replacen(
        "level = \"info,ferroswitch=debug\"",
        "level = \"info,ferroswitch=debug,presence=debug\"",
        1,
    );
    std::fs::write(site.config(), cfg).unwrap();
    site
}

pub(crate) fn password(login: &str) -> String {
    format!("pw-{login}")
}

/// `udp`, `tcp` or `tls`: the server's address for it.
pub(crate) fn addr(server: &Server, transport: &str) -> SocketAddr {
    match transport {
        "udp" => server.udp,
        "tcp" => server.tcp,
        "tls" => server.tls,
        t => panic!("transport {t}"),
    }
}

/// Lines a reader thread collects, waited for with a bound.
pub(crate) struct Lines {
    rx: Receiver<String>,
    pub(crate) seen: Vec<String>,
}

impl Lines {
    fn spawn(r: impl std::io::Read + Send + 'static) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(r).lines().map_while(Result::ok) {
                if std::env::var_os("FERRO_TEST_LOG").is_some() {
                    eprintln!("[client] {line}");
                }
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            rx,
            seen: Vec::new(),
        }
    }

    /// Whether a line (already seen or arriving within `secs`) matches.
    pub(crate) fn wait(&mut self, secs: u64, pred: impl Fn(&str) -> bool) -> bool {
        if self.seen.iter().any(|l| pred(l)) {
            return true;
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        while let Ok(l) = self
            .rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            let hit = pred(&l);
            self.seen.push(l);
            if hit {
                return true;
            }
        }
        false
    }

    pub(crate) fn text(&mut self) -> String {
        while let Ok(l) = self.rx.try_recv() {
            self.seen.push(l);
        }
        self.seen.join("\n")
    }
}

/// A baresip phone's audio: module lines, `audio_source`, `audio_codecs`.
pub(crate) struct Audio<'a> {
    pub(crate) modules: &'a str,
    pub(crate) source: &'a str,
    pub(crate) codecs: &'a str,
}

/// One baresip phone.
pub(crate) struct Baresip {
    pub(crate) login: String,
    child: Child,
    _stdin: ChildStdin,
    ctrl: TcpStream,
    buf: Vec<u8>,
    events: Vec<serde_json::Value>,
    /// What its stdio UI printed.
    pub(crate) out: Lines,
}

impl Baresip {
    /// Starts `login`'s phone registering over `transport`, watching the presence of
    /// `buddies` (and publishing its own), auto-answering calls; it quits after `secs`.
    pub(crate) fn start(
        site: &Site,
        server: &Server,
        login: &str,
        transport: &str,
        buddies: &[&str],
        secs: u32,
    ) -> Self {
        Self::start_with(
            site,
            server,
            login,
            transport,
            buddies,
            secs,
            &Audio {
                modules: "module opus.so\nmodule ausine.so\n",
                source: "ausine,440",
                codecs: "opus/48000/2",
            },
        )
    }

    /// [`Self::start`] with other audio modules, source and codecs.
    pub(crate) fn start_with(
        site: &Site,
        server: &Server,
        login: &str,
        transport: &str,
        buddies: &[&str],
        secs: u32,
        audio: &Audio<'_>,
    ) -> Self {
        let dir = site.dir.path().join(format!("baresip-{login}-{transport}"));
        std::fs::create_dir_all(&dir).unwrap();
        let port = crate::harness::free_port();
        std::fs::write(
            dir.join("config"),
            format!(
                "sip_listen 127.0.0.1:0\nsip_verify_server no\nmodule_path /usr/lib/baresip/modules\n\
                 module stdio.so\n{}\
                 module_app account.so\nmodule_app contact.so\nmodule_app menu.so\n\
                 module_app presence.so\nmodule_app ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{port}\n\
                 audio_player nil\naudio_source {}\naudio_alert nil\ncall_max_calls 4\n",
                audio.modules, audio.source
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("accounts"),
            format!(
                "<sip:{login}@{DOMAIN}>;auth_pass={};outbound=\"sip:{};transport={transport}\";\
                 regint=600;pubint=600;answermode=auto;audio_codecs={}\n",
                password(login),
                addr(server, transport),
                audio.codecs
            ),
        )
        .unwrap();
        let contacts: String = buddies
            .iter()
            .map(|b| format!("\"{b}\" <sip:{b}@{DOMAIN}>;presence=p2p\n"))
            .collect();
        std::fs::write(dir.join("contacts"), contacts).unwrap();
        let mut child = Command::new("script")
            .arg("-qfec")
            .arg(format!("baresip -f {} -t {secs}", dir.display()))
            .arg("/dev/null")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("script + baresip");
        let out = Lines::spawn(child.stdout.take().unwrap());
        let stdin = child.stdin.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let ctrl = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => panic!("baresip ctrl_tcp: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        ctrl.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Self {
            login: login.to_owned(),
            child,
            _stdin: stdin,
            ctrl,
            buf: Vec::new(),
            events: Vec::new(),
            out,
        }
    }

    /// Sends a menu command (`dial`, `hold`, `resume`, `sndcode`, `transfer`, `hangup`, ...)
    /// and waits for its response; panics if baresip refuses it.
    pub(crate) fn command(&mut self, command: &str, params: Option<&str>) {
        self.command_output(command, params);
    }

    /// [`Self::command`], returning what the command printed (the response's `data`).
    pub(crate) fn command_output(&mut self, command: &str, params: Option<&str>) -> String {
        let mut v = serde_json::json!({ "command": command, "token": command });
        if let Some(p) = params {
            v["params"] = p.into();
        }
        let body = v.to_string();
        let frame = format!("{}:{body},", body.len());
        self.ctrl.write_all(frame.as_bytes()).unwrap();
        let resp = self
            .wait_json(10, |m| {
                m["response"] == true && m["token"].as_str() == Some(command)
            })
            .unwrap_or_else(|| panic!("{}: no answer to {command}", self.login));
        assert_eq!(
            resp["ok"], true,
            "{}: {command} refused: {resp}",
            self.login
        );
        resp["data"].as_str().unwrap_or_default().to_owned()
    }

    /// The next call event of `kind` (`CALL_ESTABLISHED`, `CALL_DTMF_START`, ...), within
    /// `secs`, whose `param` satisfies `param` (events before it are kept for later waits).
    pub(crate) fn event(
        &mut self,
        kind: &str,
        secs: u64,
        param: impl Fn(&str) -> bool,
    ) -> Option<serde_json::Value> {
        self.wait_json(secs, |m| {
            m["event"] == true
                && m["type"].as_str() == Some(kind)
                && param(m["param"].as_str().unwrap_or(""))
        })
    }

    /// Event types seen so far (for failure messages).
    pub(crate) fn history(&self) -> Vec<String> {
        self.events
            .iter()
            .map(|e| format!("{} {}", e["type"], e["param"]))
            .collect()
    }

    fn wait_json(
        &mut self,
        secs: u64,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut taken = self.events.len();
        loop {
            if let Some(i) = self.events[..taken].iter().position(&pred) {
                return Some(self.events.remove(i));
            }
            if Instant::now() > deadline {
                return None;
            }
            let mut chunk = [0u8; 4096];
            if let Ok(n) = self.ctrl.read(&mut chunk) {
                self.buf.extend_from_slice(&chunk[..n]);
            }
            // netstrings: `len:json,`
            while let Some(colon) = self.buf.iter().position(|&b| b == b':') {
                let Some(len) = std::str::from_utf8(&self.buf[..colon])
                    .ok()
                    .and_then(|s| s.parse::<usize>().ok())
                else {
                    self.buf.clear();
                    break;
                };
                if self.buf.len() < colon + 1 + len + 1 {
                    break;
                }
                let json = &self.buf[colon + 1..colon + 1 + len];
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(json) {
                    self.events.push(v);
                }
                self.buf.drain(..colon + 2 + len);
            }
            taken = self.events.len();
        }
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let body = r#"{"command":"quit","token":"q"}"#;
        let _ = self
            .ctrl
            .write_all(format!("{}:{body},", body.len()).as_bytes());
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One linphonec.
pub(crate) struct Linphonec {
    child: Child,
    stdin: ChildStdin,
    pub(crate) out: Lines,
}

/// A linphonerc for `login` registering over `transport` (and publishing its presence),
/// with `friends` it subscribes to; `rls` sets `[sip] rls_uri`, which makes linphone
/// subscribe to the whole friend list at once (RFC 5367). The identity's host is the
/// server's address (as in docs/softphones.md): linphonec 5.1 sends a chat to the host of
/// the URI, and signs a call to another domain as `linphone`.
pub(crate) fn linphonerc(
    server: &Server,
    login: &str,
    transport: &str,
    friends: &[&str],
    rls: Option<&str>,
) -> String {
    let a = addr(server, transport);
    let (udp, tcp, tls) = match transport {
        "udp" => (-1, 0, 0),
        "tcp" => (0, -1, 0),
        _ => (0, 0, -1),
    };
    let mut rc = format!(
        "[sip]\ndefault_proxy=0\nsip_port={udp}\nsip_tcp_port={tcp}\nsip_tls_port={tls}\nverify_server_certs=0\nverify_server_cn=0\n"
    );
    if let Some(r) = rls {
        rc.push_str(&format!("rls_uri={r}\n"));
    }
    rc.push_str(&format!(
        "[proxy_0]\nreg_proxy=<sip:{a};transport={transport}>\nreg_route=<sip:{a};transport={transport};lr>\n\
         reg_identity=sip:{login}@{a}\nreg_expires=600\nreg_sendregister=1\npublish=1\n\
         [auth_info_0]\nusername={login}\npasswd={}\nrealm={DOMAIN}\ndomain={a}\n",
        password(login)
    ));
    for (i, f) in friends.iter().enumerate() {
        rc.push_str(&format!(
            "[friend_{i}]\nurl=\"{f}\" <sip:{f}@{a}>\npol=accept\nsubscribe=1\n"
        ));
    }
    rc
}

impl Linphonec {
    /// Starts linphonec with `rc` (see [`linphonerc`]); it is ended after `secs` at most.
    pub(crate) fn start(dir: &Path, name: &str, rc: &str, secs: u32) -> Self {
        let home: PathBuf = dir.join(format!("linphone-{name}"));
        // its message database lives here; without it linphonec 5.1 crashes on `chat`
        std::fs::create_dir_all(home.join(".local/share/linphone")).unwrap();
        let rc_path = home.join("linphonerc");
        std::fs::write(&rc_path, rc).unwrap();
        let mut child = Command::new("timeout")
            .arg(secs.to_string())
            .arg("linphonec")
            .arg("-c")
            .arg(&rc_path)
            .env("HOME", &home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("linphonec");
        let out = Lines::spawn(child.stdout.take().unwrap());
        let stdin = child.stdin.take().unwrap();
        Self { child, stdin, out }
    }

    /// Types a command at the `linphonec>` prompt.
    pub(crate) fn say(&mut self, line: &str) {
        let _ = writeln!(self.stdin, "{line}");
        let _ = self.stdin.flush();
    }
}

impl Drop for Linphonec {
    fn drop(&mut self) {
        self.say("quit");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to `secs` for a server log line matching `pred`; the lines read meanwhile on
/// failure.
pub(crate) fn server_log(server: &Server, secs: u64, pred: impl Fn(&str) -> bool) -> String {
    server
        .wait_log(secs, pred)
        .unwrap_or_else(|seen| panic!("not in the server log; it said:\n{}", seen.join("\n")))
}
