//! `[cluster]` across restarts and deaths (issue 15): a restarted node rebuilds the other
//! nodes' presence from Redis at once (and a reconnection floods no watcher); a node killed
//! without a goodbye stops being a target as soon as its heartbeat expires.

use std::time::{Duration, Instant};

use crate::calls::{free_port, register_device};
use crate::cluster::{call_through, nodes, ok, started, wait_binding, wait_log, Redis, ACCOUNTS};
use crate::presence::{publish, subscribe};
use crate::ua::{pidf, Ua};

fn body(m: &sip_message::Message) -> String {
    String::from_utf8_lossy(m.body()).into_owned()
}

fn is_notify(m: &sip_message::Message) -> bool {
    m.method().is_some_and(|x| x.as_str() == "NOTIFY")
}

#[test]
fn a_restarted_node_knows_the_other_nodes_presence_at_once_and_a_reconnection_floods_nobody() {
    let Some(redis) = Redis::start() else { return };
    let nodes = nodes(&redis, 2, ACCOUNTS);
    let n0 = started(&nodes[0]);
    let n1 = started(&nodes[1]);
    // alice publishes on node 0: stored in Redis with its expiry
    let mut alice = Ua::new(n0.udp, "alice", "wonderland");
    let etag = publish(&mut alice, &pidf("alice", true, "at my desk"), None);
    let key = "ferroswitch:pub:alice";
    let deadline = Instant::now() + Duration::from_secs(5);
    while redis.cli(&["HLEN", key]).trim() != "1" {
        assert!(Instant::now() < deadline, "no publication in Redis");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ttl: i64 = redis.cli(&["PTTL", key]).trim().parse().unwrap();
    assert!(ttl > 500_000 && ttl <= 600_000, "PTTL {ttl}");

    // node 1 restarts (it forgets everything it heard) and bob subscribes there: his first
    // NOTIFY already has alice's state, read from Redis at start
    n1.stop();
    let mut n1 = started(&nodes[1]);
    let mut bob = Ua::new(n1.udp, "bob", "builder");
    subscribe(&mut bob, "alice", "Accept: application/pidf+xml\r\n");
    let n = bob.expect_request("NOTIFY", 5);
    bob.answer(&n, 200);
    assert!(
        body(&n).contains("at my desk") && body(&n).contains("<basic>open</basic>"),
        "{}",
        body(&n)
    );

    // node 1's Redis connections drop: it subscribes again and reads the snapshot, and bob
    // (whose watched state did not change) gets no NOTIFY
    redis.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    wait_log(&mut n1, "location snapshot read");
    if let Some(m) = bob.try_wait(2, is_notify) {
        let log = n1.wait_log(1, |_| false).unwrap_err();
        panic!("a NOTIFY without a change: {m:?}\n{}", log.join("\n"));
    }

    // a change still reaches him, and replaces the old entity-tag in Redis
    publish(&mut alice, &pidf("alice", false, "gone home"), Some(&etag));
    let n = bob.wait(10, |m| is_notify(m) && body(m).contains("gone home"));
    bob.answer(&n, 200);
    assert_eq!(redis.cli(&["HLEN", key]).trim(), "1");
    n0.stop();
    n1.stop();
}

#[test]
fn a_call_to_a_killed_node_s_phone_fails_fast_once_its_heartbeat_expires() {
    let Some(redis) = Redis::start() else { return };
    let nodes = nodes(&redis, 2, ACCOUNTS);
    let n0 = started(&nodes[0]);
    let mut n1 = started(&nodes[1]);
    let port = free_port();
    register_device(&nodes[0].site, &n0, "bob", "builder", port);
    wait_binding(&redis, "bob", "node0");
    // node 0 dies (SIGKILL): its records stay in Redis until they expire, its heartbeat
    // key goes within 3 s
    drop(n0);
    wait_log(&mut n1, "heartbeat expired");
    assert!(
        redis.cli(&["HLEN", "ferroswitch:loc:bob"]).trim() == "1",
        "the dead node's record is still in Redis"
    );
    // alice's call to bob through node 1: 480 at once, not a branch timing out at the dead
    // node's address
    let t0 = Instant::now();
    ok(
        "alice's call (480 expected)",
        call_through(&nodes[1], &n1, "uac_expect_480.xml", "alice;wonderland;bob"),
    );
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "the call waited for the dead node: {:?}",
        t0.elapsed()
    );
    n1.stop();
}
