//! `[cluster]`: a call parked on one node for a pushed phone, picked up with INVITE/Replaces
//! sent to another node (issue 15): that node relays it to the holder, which authenticates
//! the phone, connects the call, and routes the dialog through it both ways.

use crate::calls::{free_port, Sipp};
use crate::cluster::{ok, parked_on_node0, wait_log, Redis};
use crate::push::{json_field, wait_event};

#[test]
fn an_invite_replaces_sent_to_another_node_picks_up_the_call_parked_there() {
    let Some(redis) = Redis::start() else { return };
    let ((api, caller), nodes, mut n0, mut n1) = parked_on_node0(&redis);
    let push = wait_event(&api, "incoming_call");
    // node 1 knows the parked call from Redis
    let parked = format!("ferroswitch:park:{}", json_field(&push, "call_id"));
    wait_exists(&redis, &parked, true);
    std::thread::sleep(std::time::Duration::from_millis(200));
    // the woken phone sends its INVITE/Replaces (built from the push payload) to node 1: the
    // 407 comes from node 0 through node 1, then 200; alice's BYE reaches it through node 1
    let row = format!(
        "bob;builder;{};{};{};alice",
        json_field(&push, "call_id"),
        json_field(&push, "to_tag"),
        json_field(&push, "from_tag")
    );
    let phone = Sipp::new(&nodes[1].site, "uac_replaces.xml", free_port())
        .rows(&[&row])
        .target(n1.udp)
        .spawn();
    ok("alice's parked call answered and hung up", caller.wait());
    ok("the phone that picked it up through node 1", phone.wait());
    wait_log(
        &mut n1,
        "INVITE/Replaces for a call parked on another node, relayed there",
    );
    wait_log(&mut n0, "parked call picked up with INVITE/Replaces");
    // the call ended: no longer parked anywhere
    wait_exists(&redis, &parked, false);
    n0.stop();
    n1.stop();
}

/// Waits (5 s at most) until `key` exists in Redis, or is gone.
fn wait_exists(redis: &Redis, key: &str, exists: bool) {
    let want = if exists { "1" } else { "0" };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while redis.cli(&["EXISTS", key]).trim() != want {
        assert!(
            std::time::Instant::now() < deadline,
            "{key}: EXISTS is not {want}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
