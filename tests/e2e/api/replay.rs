//! Events sent while no WebSocket is connected are kept and replayed (docs/api.md): on the
//! next connection without `since` (those no socket took), and with `?since=SEQ` exactly
//! those after SEQ.

use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::{site, Api, ANSWER_SDP};
use crate::harness::block;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A call from the API endpoint to a login that does not exist, until it is `not_found`.
async fn failed_call(api: &Api) -> String {
    let (s, v) = api
        .post(
            "/session",
            json!({"type": "voice", "login": "alice", "destination": "nobody", "sdp": ANSWER_SDP}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, v) = api
            .send(reqwest::Method::GET, &format!("/session/{id}"), None)
            .await;
        if v["status"] == "not_found" {
            return id;
        }
        assert!(tokio::time::Instant::now() < deadline, "{id}: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The next `n` events on `ws`.
async fn frames(ws: &mut Socket, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    while out.len() < n {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} events: {out:?}", out.len()))
            .expect("open")
            .expect("a frame");
        if let Message::Text(t) = m {
            out.push(serde_json::from_str(&t).unwrap());
        }
    }
    out
}

/// (session, status, seq) of each event.
fn summary(evs: &[Value]) -> Vec<(String, String, u64)> {
    evs.iter()
        .map(|e| {
            (
                e["session"].as_str().unwrap().to_owned(),
                e["status"].as_str().unwrap().to_owned(),
                e["seq"].as_u64().expect("a seq"),
            )
        })
        .collect()
}

fn statuses_of(evs: &[(String, String, u64)], session: &str) -> Vec<String> {
    evs.iter()
        .filter(|e| e.0 == session)
        .map(|e| e.1.clone())
        .collect()
}

#[test]
fn events_sent_while_no_websocket_is_connected_are_replayed() {
    let site = site("");
    let server = site.start();
    block(async {
        let api = Api::connect(&server).await;
        let (_, ch) = api.registered_with_channel().await;
        let url = ch["url"].as_str().unwrap().to_owned();

        // a whole call while nobody listens: the first socket gets it
        let first = failed_call(&api).await;
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        let evs = summary(&frames(&mut ws, 3).await);
        assert_eq!(
            statuses_of(&evs, &first),
            ["initial", "progressing", "not_found"]
        );
        for w in evs.windows(2) {
            assert_eq!(w[1].2, w[0].2 + 1, "consecutive numbers: {evs:?}");
        }
        let last = evs[2].2;
        drop(ws);

        // two calls while disconnected; reconnecting with since= the last seq seen gets
        // exactly those, in order, numbered on
        let second = failed_call(&api).await;
        let third = failed_call(&api).await;
        for _ in 0..2 {
            let (mut ws, _) = tokio_tungstenite::connect_async(format!("{url}?since={last}"))
                .await
                .unwrap();
            let evs = summary(&frames(&mut ws, 6).await);
            let seqs: Vec<u64> = evs.iter().map(|e| e.2).collect();
            assert_eq!(seqs, (last + 1..=last + 6).collect::<Vec<_>>());
            assert_eq!(
                statuses_of(&evs, &second),
                ["initial", "progressing", "not_found"]
            );
            assert_eq!(
                statuses_of(&evs, &third),
                ["initial", "progressing", "not_found"]
            );
            // and nothing of the first call again
            assert!(statuses_of(&evs, &first).is_empty());
        }
        // without since: nothing is pending any more, live events follow
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        let fourth = failed_call(&api).await;
        let evs = summary(&frames(&mut ws, 3).await);
        assert_eq!(
            statuses_of(&evs, &fourth),
            ["initial", "progressing", "not_found"]
        );
        assert_eq!(evs[0].2, last + 7);
    });
    server.stop();
}
