//! `[cluster]` end to end (issue 15): a real `redis-server` on a loopback port of our own and
//! two or three real ferroswitch nodes sharing it, SIPp phones spread over the nodes: calls and
//! MESSAGEs across nodes, 430 when the owning node lost the phone's connection, Redis stopped
//! and started under a REGISTER load, a killed node's phones re-registered elsewhere.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::calls::{free_port, register_device, Sipp};
use crate::harness::{optional_tool, Server, Site};
use crate::ua::Ua;

const SECRET: &str = "cluster-test-secret-0123";

/// A `redis-server` of our own on a loopback port, without persistence: stopping it loses
/// everything, as a crashed Redis without a replica would.
pub(crate) struct Redis {
    pub(crate) port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Redis {
    /// `None` (a recorded skip) without `redis-server`, a failure under FERRO_REQUIRE_TOOLS=1.
    pub(crate) fn start() -> Option<Self> {
        if !optional_tool("redis-server", "redis-server") {
            return None;
        }
        let mut r = Self {
            port: 0,
            child: None,
            dir: tempfile::tempdir().expect("tempdir"),
        };
        // a free port may be taken by a parallel test before redis-server binds it: then
        // redis-server exits, and another port is tried
        for _ in 0..5 {
            r.port = free_port();
            if r.run() {
                return Some(r);
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// Starts redis-server on `self.port`; `false` when it exited (its port was taken).
    fn run(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.cli(&["PING"]).trim() != "PONG" {
            if let Some(c) = self.child.as_mut() {
                if c.try_wait().ok().flatten().is_some() {
                    self.child = None;
                    return false;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }

    /// Kills it (everything it held is lost: no persistence).
    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again, empty, on the same port.
    pub(crate) fn restart(&mut self) {
        self.stop();
        assert!(
            self.run(),
            "redis-server did not restart on port {}",
            self.port
        );
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub(crate) fn cli(&self, args: &[&str]) -> String {
        Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// The logins with a location hash.
    pub(crate) fn logins(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .cli(&["--scan", "--pattern", "ferroswitch:loc:*"])
            .lines()
            .filter_map(|l| l.strip_prefix("ferroswitch:loc:").map(str::to_owned))
            .collect();
        v.sort();
        v
    }

    pub(crate) fn wait_logins(&self, n: usize, what: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let l = self.logins();
            if l.len() == n {
                return l;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {} logins in Redis, expected {n}",
                l.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One node: its scratch site (config, SQLite database) and its internal UDP address.
pub(crate) struct Node {
    pub(crate) site: Site,
    pub(crate) internal: SocketAddr,
}

/// `n` node configs sharing `redis`, each on its own SQLite database; each node's UDP listener
/// is its internal address.
pub(crate) fn nodes(redis: &Redis, n: usize, accounts: &[(&str, &str)]) -> Vec<Node> {
    nodes_on(redis, n, accounts, None)
}

/// [`nodes`] on one shared database when `db_url` is set (accounts added once).
pub(crate) fn nodes_on(
    redis: &Redis,
    n: usize,
    accounts: &[(&str, &str)],
    db_url: Option<&str>,
) -> Vec<Node> {
    nodes_at(redis, n, accounts, db_url, |_| [127, 0, 0, 1], "")
}

/// [`nodes_on`] with node `i`'s internal address on the loopback IP `ip(i)` and `extra`
/// appended to every node's config.
pub(crate) fn nodes_at(
    redis: &Redis,
    n: usize,
    accounts: &[(&str, &str)],
    db_url: Option<&str>,
    ip: impl Fn(usize) -> [u8; 4],
    extra: &str,
) -> Vec<Node> {
    let internals: Vec<SocketAddr> = (0..n)
        .map(|i| SocketAddr::from((ip(i), free_port())))
        .collect();
    internals
        .iter()
        .enumerate()
        .map(|(i, internal)| {
            let site = Site::new();
            let others: Vec<String> = internals
                .iter()
                .filter(|a| *a != internal)
                .map(|a| format!("\"{a}\""))
                .collect();
            let cfg = format!(
                r#"node_id = "node{i}"

[[listener]]
transport = "udp"
address = "{internal}"

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
domain = "ferroswitch.test"
algorithms = ["MD5"]

[database]
{database}

[log]
level = "info,ferroswitch=debug"

[cluster]
redis = "{redis}"
internal = "{internal}"
nodes = [{others}]
secret = "{SECRET}"
{extra}"#,
                redis = redis.url(),
                others = others.join(", "),
                database = match db_url {
                    Some(u) => format!("url = \"{u}\""),
                    None => "data_dir = \"data\"".to_owned(),
                },
            );
            std::fs::write(site.config(), cfg).expect("write config");
            if db_url.is_none() || i == 0 {
                for (login, password) in accounts {
                    site.add_account(login, password);
                }
            }
            Node {
                site,
                internal: *internal,
            }
        })
        .collect()
}

/// Waits until the node's log shows `what` (since it started).
pub(crate) fn wait_log(server: &mut Server, what: &str) {
    if server.startup_log.iter().any(|l| l.contains(what)) {
        server.startup_log.clear();
        return;
    }
    if let Err(seen) = server.wait_log(15, |l| l.contains(what)) {
        panic!("no log line with {what:?}; log:\n{}", seen.join("\n"));
    }
}

pub(crate) fn started(node: &Node) -> Server {
    let mut s = node.site.start();
    wait_log(&mut s, "location snapshot read");
    s
}

/// Waits until `login` has a binding in Redis held by `node_id`.
pub(crate) fn wait_binding(redis: &Redis, login: &str, node_id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let key = format!("ferroswitch:loc:{login}");
    loop {
        let all = redis.cli(&["HGETALL", &key]);
        if all.lines().any(|l| l.starts_with(&format!("{node_id}|"))) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{login} has no binding of {node_id} in Redis: {all}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A SIPp caller (`scenario`, one `row`) through `node`, from a free port; run to its end.
pub(crate) fn call_through(
    node: &Node,
    server: &Server,
    scenario: &str,
    row: &str,
) -> (bool, String) {
    Sipp::new(&node.site, scenario, free_port())
        .rows(&[row])
        .target(server.udp)
        .run()
}

pub(crate) fn ok(what: &str, (ok, out): (bool, String)) {
    assert!(ok, "{what} failed:\n{out}");
}

pub(crate) const ACCOUNTS: &[(&str, &str)] = &[
    ("alice", "wonderland"),
    ("bob", "builder"),
    ("carol", "c4rol"),
];

/// One node relays the requests of all its phones to another from its internal address: the
/// sum is no flood. Every node here has its own loopback IP and `[security] source_rate = 10`
/// (100/s for a registered phone's address): alice's 30 MESSAGEs in about a second reach bob
/// on the other node, which would have banned node 1's address at its 11th.
#[test]
fn the_other_nodes_are_exempt_from_the_flood_limit() {
    let Some(redis) = Redis::start() else { return };
    let nodes = nodes_at(
        &redis,
        2,
        ACCOUNTS,
        None,
        |i| [127, 0, 0, 2 + i as u8],
        "\n[security]\nsource_rate = 10\n",
    );
    let n0 = started(&nodes[0]);
    let n1 = started(&nodes[1]);
    let port = free_port();
    register_device(&nodes[0].site, &n0, "bob", "builder", port);
    wait_binding(&redis, "bob", "node0");
    // alice's own address counts as a registered phone's on node 1
    register_device(&nodes[1].site, &n1, "alice", "wonderland", free_port());
    let bob = Sipp::new(&nodes[0].site, "uas_message.xml", port)
        .args(&["-m", "30"])
        .spawn();
    let rows: Vec<String> = (0..30)
        .map(|i| format!("alice;wonderland;bob;burst {i}"))
        .collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    ok(
        "alice's 30 MESSAGEs through node 1",
        Sipp::new(&nodes[1].site, "uac_message.xml", free_port())
            .rows(&rows)
            .args(&["-m", "30", "-r", "30"])
            .target(n1.udp)
            .run(),
    );
    ok("bob's phone on node 0 got all 30", bob.wait());
    n0.stop();
    n1.stop();
}

#[test]
fn calls_and_messages_cross_nodes_both_ways() {
    let Some(redis) = Redis::start() else { return };
    let nodes = nodes(&redis, 2, ACCOUNTS);
    let n0 = started(&nodes[0]);
    let n1 = started(&nodes[1]);
    calls_and_messages_cross(&redis, &nodes, n0, n1);
}

/// The same with two core shards on each node (`[cluster]` no longer holds a node on one): the
/// other nodes' bindings are one table for both shards, each Redis update applied to it once.
#[test]
fn with_two_shards_calls_and_messages_cross_nodes_both_ways() {
    let Some(redis) = Redis::start() else { return };
    let nodes = nodes(&redis, 2, ACCOUNTS);
    let [n0, n1] = [&nodes[0], &nodes[1]].map(|node| {
        let mut n = node.site.start_with(&["--shards", "2"]);
        n.assert_shards(2);
        wait_log(&mut n, "location snapshot read");
        n
    });
    calls_and_messages_cross(&redis, &nodes, n0, n1);
}

/// Calls both ways between phones on two nodes, then a MESSAGE delivered across them.
fn calls_and_messages_cross(redis: &Redis, nodes: &[Node], n0: Server, n1: Server) {
    // bob's phone on node 0, alice calls through node 1
    let port = free_port();
    register_device(&nodes[0].site, &n0, "bob", "builder", port);
    wait_binding(redis, "bob", "node0");
    let bob = Sipp::new(&nodes[0].site, "uas_answer.xml", port).spawn();
    ok(
        "alice's call to bob through node 1",
        call_through(&nodes[1], &n1, "uac_call.xml", "alice;wonderland;bob"),
    );
    ok("bob's phone on node 0", bob.wait());

    // carol's phone on node 1, alice calls through node 0
    let port = free_port();
    register_device(&nodes[1].site, &n1, "carol", "c4rol", port);
    wait_binding(redis, "carol", "node1");
    let carol = Sipp::new(&nodes[1].site, "uas_answer.xml", port).spawn();
    ok(
        "alice's call to carol through node 0",
        call_through(&nodes[0], &n0, "uac_call.xml", "alice;wonderland;carol"),
    );
    ok("carol's phone on node 1", carol.wait());

    // a MESSAGE to bob (node 0) sent through node 1 is delivered online (200, not 202)
    let port = free_port();
    register_device(&nodes[0].site, &n0, "bob", "builder", port);
    let bob = Sipp::new(&nodes[0].site, "uas_message.xml", port).spawn();
    let (sent, out) = Sipp::new(&nodes[1].site, "uac_message.xml", free_port())
        .rows(&["alice;wonderland;bob;hello across nodes"])
        .args(&["-trace_msg"])
        .target(n1.udp)
        .run();
    assert!(sent, "alice's MESSAGE:\n{out}");
    ok("bob's phone got the MESSAGE", bob.wait());
    n0.stop();
    n1.stop();
}

#[test]
fn the_owning_node_answers_430_when_the_phone_connection_is_gone() {
    let Some(redis) = Redis::start() else { return };
    let nodes = nodes(&redis, 2, ACCOUNTS);
    let mut n0 = started(&nodes[0]);
    let n1 = started(&nodes[1]);
    // bob registers over TCP on node 0, then his connection closes (SIPp exits)
    let (registered, out) = Sipp::new(&nodes[0].site, "register.xml", free_port())
        .rows(&["bob;builder"])
        .args(&["-t", "t1"])
        .target(n0.tcp)
        .run();
    assert!(registered, "bob over TCP:\n{out}");
    wait_binding(&redis, "bob", "node0");
    std::thread::sleep(Duration::from_millis(300));
    // alice calls bob through node 1: node 0 cannot reach him and says 430; alice gets 480
    ok(
        "alice's call (480 expected)",
        call_through(&nodes[1], &n1, "uac_expect_480.xml", "alice;wonderland;bob"),
    );
    wait_log(&mut n0, "the phone's flow is gone: 430");
    // node 0 dropped the binding: Redis forgets it, node 1 with it
    redis.wait_logins(0, "after the flow failed");
    n0.stop();
    n1.stop();
}

#[test]
fn redis_restarted_during_a_register_load_loses_no_binding() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let logins: Vec<String> = (0..40).map(|i| format!("u{i:03}")).collect();
    let accounts: Vec<(&str, &str)> = logins.iter().map(|l| (l.as_str(), "pw-0123")).collect();
    let nodes = nodes(&redis, 2, &accounts);
    let mut n0 = started(&nodes[0]);
    let n1 = started(&nodes[1]);
    let rows: Vec<String> = logins.iter().map(|l| format!("{l};pw-0123")).collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    // the first half registers with Redis up
    ok(
        "first half",
        crate::harness::sipp(
            nodes[0].site.dir.path(),
            &crate::harness::scenario("register.xml"),
            n0.udp,
            "u1",
            &rows[..20],
        ),
    );
    redis.wait_logins(20, "first half");
    // Redis dies (losing everything) while the second half registers: every REGISTER is
    // still answered 200 at once
    redis.stop();
    let started_at = Instant::now();
    ok(
        "second half, Redis down",
        crate::harness::sipp(
            nodes[0].site.dir.path(),
            &crate::harness::scenario("register.xml"),
            n0.udp,
            "u1",
            &rows[20..],
        ),
    );
    assert!(
        started_at.elapsed() < Duration::from_secs(10),
        "REGISTERs waited on Redis: {:?}",
        started_at.elapsed()
    );
    wait_log(&mut n0, "Redis unreachable");
    // back, empty: node 0 writes all its bindings again
    redis.restart();
    let back = redis.wait_logins(40, "after Redis came back");
    assert_eq!(back, logins);
    wait_log(&mut n0, "Redis reachable again");
    // and node 1 learnt them: a call from node 1 to one of them reaches node 0's phone
    let port = free_port();
    register_device(&nodes[0].site, &n0, "u005", "pw-0123", port);
    let callee = Sipp::new(&nodes[0].site, "uas_answer.xml", port).spawn();
    std::thread::sleep(Duration::from_millis(300));
    ok(
        "call from node 1 after the outage",
        call_through(&nodes[1], &n1, "uac_call.xml", "u001;pw-0123;u005"),
    );
    ok("u005's phone", callee.wait());
    n0.stop();
    n1.stop();
}

#[test]
fn a_killed_node_s_phone_re_registers_elsewhere_and_is_reachable() {
    let Some(redis) = Redis::start() else { return };
    let nodes = nodes(&redis, 3, ACCOUNTS);
    let n0 = started(&nodes[0]);
    let n1 = started(&nodes[1]);
    let n2 = started(&nodes[2]);
    let port = free_port();
    register_device(&nodes[0].site, &n0, "bob", "builder", port);
    wait_binding(&redis, "bob", "node0");
    // node 0 dies (SIGKILL: no goodbye, its records stay in Redis until they expire)
    drop(n0);
    // bob's phone registers on node 1 from the same port (same contact: the record moves)
    register_device(&nodes[1].site, &n1, "bob", "builder", port);
    wait_binding(&redis, "bob", "node1");
    let bob = Sipp::new(&nodes[1].site, "uas_answer.xml", port).spawn();
    ok(
        "alice's call through node 2",
        call_through(&nodes[2], &n2, "uac_call.xml", "alice;wonderland;bob"),
    );
    ok("bob's phone, now on node 1", bob.wait());
    n1.stop();
    n2.stop();
}

#[test]
fn messages_online_and_offline_across_nodes_on_one_mariadb_and_no_relay_for_outsiders() {
    let Some(redis) = Redis::start() else { return };
    let Some(db) = crate::harness::MariaDb::create("ferro_cluster") else {
        return;
    };
    let url = db.url(3306);
    let nodes = nodes_on(&redis, 2, ACCOUNTS, Some(&url));
    let n0 = started(&nodes[0]);
    let mut n1 = started(&nodes[1]);

    // bob is offline everywhere: alice's MESSAGE through node 1 is stored (202)
    let mut alice = Ua::new(n1.udp, "alice", "wonderland");
    assert_eq!(alice.message("bob", "stored on node 1").status(), Some(202));
    // bob registers on node 0: node 0 delivers it from the shared database
    let mut bob = Ua::new(n0.udp, "bob", "builder");
    bob.register(600);
    let m = bob.expect_request("MESSAGE", 10);
    assert_eq!(&m.body()[..], b"stored on node 1");
    bob.answer(&m, 200);
    wait_binding(&redis, "bob", "node0");
    wait_log(&mut n1, "another node's word on stored messages");

    // online: node 1 relays through node 0 (its Path as Route) and bob answers 200. Node 0
    // delivered bob's stored messages and said so over Redis: node 1 forwards at once (200),
    // as one node would, instead of storing first (202)
    for text in ["live across nodes", "and again"] {
        let codes = [200];
        let bob_thread = std::thread::spawn(move || {
            let m = bob.expect_request("MESSAGE", 10);
            bob.answer(&m, 200);
            (bob, m)
        });
        let answer = alice.message("bob", text);
        let (b, m) = bob_thread.join().expect("bob");
        bob = b;
        assert_eq!(&m.body()[..], text.as_bytes());
        assert!(
            m.header_values(&sip_message::HeaderName::Route)
                .next()
                .is_none(),
            "node 0 removed its own Route: {m:?}"
        );
        assert!(
            answer.status().is_some_and(|c| codes.contains(&c)),
            "{text}: {answer:?}"
        );
    }

    // an outsider naming node 0's flow in a Route is not relayed: it is challenged like anyone
    let mut mallory = Ua::new(n0.udp, "mallory", "guess");
    let r = mallory.request(
        "MESSAGE",
        "sip:bob@ferroswitch.test",
        "sip:bob@ferroswitch.test",
        &format!(
            "Route: <sip:0123456789abcdef0123@{};lr>\r\n",
            nodes[0].internal
        ),
        Some(("text/plain", b"injected")),
        None,
    );
    assert_eq!(r.status(), Some(403), "{r:?}");
    assert!(
        bob.try_wait(1, |m| m.method().is_some_and(|x| x.as_str() == "MESSAGE"))
            .is_none(),
        "an outsider's request reached bob"
    );
    n0.stop();
    n1.stop();
}

#[test]
fn a_publish_on_one_node_notifies_a_watcher_on_another() {
    use crate::presence::{publish, subscribe};
    use crate::ua::pidf;
    let Some(redis) = Redis::start() else { return };
    let nodes = nodes(&redis, 2, ACCOUNTS);
    let n0 = started(&nodes[0]);
    let n1 = started(&nodes[1]);
    let body = |m: &sip_message::Message| String::from_utf8_lossy(m.body()).into_owned();

    // bob watches alice on node 1; she has published nothing yet
    let mut bob = Ua::new(n1.udp, "bob", "builder");
    subscribe(&mut bob, "alice", "Accept: application/pidf+xml\r\n");
    let n = bob.expect_request("NOTIFY", 5);
    bob.answer(&n, 200);

    // alice publishes on node 0: node 1 hears of it over Redis and notifies bob
    let mut alice = Ua::new(n0.udp, "alice", "wonderland");
    let etag = publish(
        &mut alice,
        &pidf("alice", true, "at my desk on node 0"),
        None,
    );
    let n = bob.wait(10, |m| {
        m.method().is_some_and(|x| x.as_str() == "NOTIFY") && body(m).contains("at my desk")
    });
    assert!(body(&n).contains("<basic>open</basic>"), "{}", body(&n));
    bob.answer(&n, 200);

    // she modifies it (a new entity-tag replaces the old one): only the new state remains
    publish(&mut alice, &pidf("alice", false, "gone home"), Some(&etag));
    let n = bob.wait(10, |m| {
        m.method().is_some_and(|x| x.as_str() == "NOTIFY") && body(m).contains("gone home")
    });
    let b = body(&n);
    assert!(
        b.contains("<basic>closed</basic>") && !b.contains("at my desk"),
        "{b}"
    );
    bob.answer(&n, 200);
    n0.stop();
    n1.stop();
}

/// A call parked on node 0 for a sleeping phone is picked up when the woken phone registers on
/// node 1: node 0 learns the binding over Redis and forks the parked call to it through node 1.
#[test]
fn a_call_parked_on_one_node_is_forked_to_the_phone_that_wakes_on_another() {
    use crate::push::INSTANCE_UUID;
    let Some(redis) = Redis::start() else { return };
    let (api, nodes, n0, n1) = parked_on_node0(&redis);

    // the phone wakes up and registers on node 1
    let port = free_port();
    ok(
        "woken phone registers on node 1",
        Sipp::new(&nodes[1].site, "register_instance.xml", port)
            .rows(&[&format!("bob;builder;{INSTANCE_UUID}")])
            .target(n1.udp)
            .run(),
    );
    // node 0 forks the parked call to it through node 1; SIPp takes the retransmission
    let phone = Sipp::new(&nodes[1].site, "uas_answer.xml", port).spawn();
    ok("alice's parked call answered", api.1.wait());
    ok("the phone woken on node 1", phone.wait());
    n0.stop();
    n1.stop();
}

/// Two nodes, node 0 with the push hook; bob's app left its token on node 0 and sleeps;
/// alice's call (SIPp, through node 0) is parked and pushed. Returns the hook with alice's
/// running call, the nodes and both servers.
pub(crate) fn parked_on_node0(
    redis: &Redis,
) -> (
    (crate::ua::FakeApi, crate::calls::Running),
    Vec<Node>,
    Server,
    Server,
) {
    let api = crate::ua::FakeApi::start(|_, _| (200, "{}".into()));
    let nodes = nodes(redis, 2, ACCOUNTS);
    let mut cfg = std::fs::read_to_string(nodes[0].site.config()).unwrap();
    cfg.push_str(&format!(
        "\n[calls]\ncall_timeout = 15\n[push_service]\nipaddr = \"127.0.0.1\"\nport = {}\n\
         service = \"emc.ashx\"\npush_timeout = 15\n",
        api.addr.port()
    ));
    std::fs::write(nodes[0].site.config(), cfg).unwrap();
    let n0 = started(&nodes[0]);
    let n1 = started(&nodes[1]);
    crate::push::sleeping_bob(n0.udp);
    let caller = Sipp::new(&nodes[0].site, "uac_call.xml", free_port())
        .rows(&["alice;wonderland;bob"])
        .target(n0.udp)
        .spawn();
    crate::push::wait_event(&api, "incoming_call");
    ((api, caller), nodes, n0, n1)
}
