//! Presence end to end: PUBLISH/SUBSCRIBE/NOTIFY through the real binary (raw UDP user agents
//! and SIPp), resource lists with buddies from a real HTTP server standing in for the
//! operator's `web_service`, MWI from the voicemail table, and baresip watching a buddy.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sip_message::{HeaderName, Message};

use crate::calls::{free_port, Sipp};
use crate::harness::{block, require_tool, Site};
use crate::ua::{pidf, FakeApi, Ua, REALM};

fn site(sections: &str) -> Site {
    let site = Site::with_sections(sections);
    for (l, p) in [
        ("alice", "wonderland"),
        ("bob", "builder"),
        ("carol", "singer"),
    ] {
        site.add_account(l, p);
    }
    site
}

/// PUBLISHes `body` for `ua`'s login; returns the 200's SIP-ETag.
pub(crate) fn publish(ua: &mut Ua, body: &str, etag: Option<&str>) -> String {
    let uri = format!("sip:{}@{REALM}", ua.login);
    let mut headers = "Event: presence\r\nExpires: 600\r\n".to_owned();
    if let Some(e) = etag {
        headers.push_str(&format!("SIP-If-Match: {e}\r\n"));
    }
    let r = ua.request(
        "PUBLISH",
        &uri,
        &uri,
        &headers,
        Some(("application/pidf+xml", body.as_bytes())),
        None,
    );
    assert_eq!(r.status(), Some(200), "PUBLISH: {r:?}");
    r.header(&HeaderName::from_bytes(b"SIP-ETag"))
        .expect("SIP-ETag")
        .to_owned()
}

/// SUBSCRIBEs `ua` to `target`'s presence (with `extra` headers); returns the 200.
pub(crate) fn subscribe(ua: &mut Ua, target: &str, extra: &str) -> Message {
    let uri = format!("sip:{target}@{REALM}");
    let r = ua.request(
        "SUBSCRIBE",
        &uri,
        &uri,
        &format!("Event: presence\r\nExpires: 600\r\n{extra}"),
        None,
        None,
    );
    assert_eq!(r.status(), Some(200), "SUBSCRIBE: {r:?}");
    r
}

fn body(m: &Message) -> String {
    String::from_utf8_lossy(m.body()).into_owned()
}

#[test]
fn publish_then_subscribe_gets_the_pidf_and_a_change_notifies() {
    let site = site("");
    let server = site.start();
    let mut alice = Ua::new(server.udp, "alice", "wonderland");
    let mut bob = Ua::new(server.udp, "bob", "builder");
    let etag = publish(&mut alice, &pidf("alice", true, "at my desk"), None);

    let ok = subscribe(&mut bob, "alice", "Accept: application/pidf+xml\r\n");
    assert!(ok.to_header().unwrap().tag().is_some());
    let n = bob.expect_request("NOTIFY", 5);
    assert_eq!(n.header(&HeaderName::Event), Some("presence"));
    assert!(n
        .header(&HeaderName::SubscriptionState)
        .unwrap()
        .starts_with("active"));
    assert_eq!(n.content_type(), Some("application/pidf+xml"));
    let b = body(&n);
    assert!(
        b.contains("<basic>open</basic>") && b.contains("at my desk"),
        "{b}"
    );
    assert!(b.contains(&format!("entity=\"sip:alice@{REALM}\"")), "{b}");
    bob.answer(&n, 200);

    // alice changes her status: bob hears of it
    publish(&mut alice, &pidf("alice", false, "gone home"), Some(&etag));
    let n = bob.expect_request("NOTIFY", 5);
    let b = body(&n);
    assert!(
        b.contains("<basic>closed</basic>") && b.contains("gone home"),
        "{b}"
    );
    bob.answer(&n, 200);

    // stored for a restart: the row is in presence_publications
    let rows = block(async {
        let s = store::Store::connect(&site.db_url).await.unwrap();
        let mut rows = Vec::new();
        for _ in 0..50 {
            rows = s.load_publications(0, None).await.unwrap();
            if rows
                .iter()
                .any(|r| String::from_utf8_lossy(&r.body).contains("gone home"))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        s.close().await;
        rows
    });
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].login, "alice");
}

#[test]
fn publications_survive_a_restart() {
    let site = site("");
    let server = site.start();
    let mut alice = Ua::new(server.udp, "alice", "wonderland");
    publish(&mut alice, &pidf("alice", true, "before the restart"), None);
    // let the writer store it, then restart
    std::thread::sleep(Duration::from_millis(500));
    server.stop();
    let server = site.start();
    let mut bob = Ua::new(server.udp, "bob", "builder");
    subscribe(&mut bob, "alice", "");
    let n = bob.expect_request("NOTIFY", 5);
    assert!(body(&n).contains("before the restart"), "{}", body(&n));
    bob.answer(&n, 200);
}

#[test]
fn subscribe_and_publish_need_credentials() {
    let site = site("");
    let server = site.start();
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let local = sock.local_addr().unwrap();
    for method in ["SUBSCRIBE", "PUBLISH"] {
        let req = format!(
            "{method} sip:alice@{REALM} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{method}1\r\n\
             From: <sip:bob@{REALM}>;tag=x\r\nTo: <sip:alice@{REALM}>\r\nCall-ID: {method}@t\r\n\
             CSeq: 1 {method}\r\nMax-Forwards: 70\r\nContact: <sip:bob@{local}>\r\nEvent: presence\r\nContent-Length: 0\r\n\r\n"
        );
        sock.send_to(req.as_bytes(), server.udp).unwrap();
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).unwrap();
        let r = Message::parse(bytes::Bytes::copy_from_slice(&buf[..n])).unwrap();
        assert_eq!(r.status(), Some(407), "{method}: {r:?}");
        assert!(r.header(&HeaderName::ProxyAuthenticate).is_some());
    }
}

/// A multipart body split into (headers, content) parts, checked against its boundary.
fn multipart(content_type: &str, body: &str) -> Vec<(HashMap<String, String>, String)> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .expect("a boundary")
        .trim_matches('"')
        .to_owned();
    let delim = format!("--{boundary}");
    assert!(
        body.starts_with(&delim),
        "body starts with the boundary: {body}"
    );
    assert!(
        body.trim_end().ends_with(&format!("{delim}--")),
        "body ends with the closing boundary: {body}"
    );
    let mut parts = Vec::new();
    for chunk in body.split(&delim).skip(1) {
        if chunk.starts_with("--") {
            break;
        }
        let chunk = chunk.strip_prefix("\r\n").expect("CRLF after the boundary");
        let (head, content) = chunk.split_once("\r\n\r\n").expect("part headers");
        let headers = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let content = content.strip_suffix("\r\n").unwrap_or(content).to_owned();
        parts.push((headers, content));
    }
    parts
}

/// The RLMI document's resources: (uri, cid) pairs, and the list's attributes.
fn rlmi(doc: &str) -> (Vec<(String, String)>, String, String) {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(tag[at..].split('"').next()?.to_owned())
    };
    let list_tag = doc
        .split("<list")
        .nth(1)
        .and_then(|t| t.split('>').next())
        .expect("<list>")
        .to_owned();
    let mut out = Vec::new();
    for res in doc.split("<resource").skip(1) {
        let open = res.split('>').next().unwrap();
        let uri = attr(open, "uri").expect("resource uri");
        let inst = res.split("<instance").nth(1).expect("an instance");
        let inst = inst.split('>').next().unwrap();
        assert_eq!(attr(inst, "state").as_deref(), Some("active"), "{inst}");
        out.push((uri, attr(inst, "cid").expect("cid")));
    }
    (
        out,
        attr(&list_tag, "version").unwrap(),
        attr(&list_tag, "fullState").unwrap(),
    )
}

/// The multipart NOTIFY of a resource list: RLMI resources by URI → their PIDF part.
fn list_notify(n: &Message) -> (HashMap<String, String>, String, String) {
    let ct = n.content_type().expect("Content-Type").to_owned();
    assert!(ct.starts_with("multipart/related"), "{ct}");
    assert!(ct.contains("type=\"application/rlmi+xml\""), "{ct}");
    assert_eq!(n.header(&HeaderName::Require), Some("eventlist"));
    let parts = multipart(&ct, &body(n));
    let (first_headers, first) = &parts[0];
    assert!(
        first_headers
            .get("content-type")
            .is_some_and(|t| t.starts_with("application/rlmi+xml")),
        "{first_headers:?}"
    );
    // start= names the RLMI part
    let start = ct
        .split(';')
        .find_map(|p| p.trim().strip_prefix("start="))
        .unwrap()
        .trim_matches('"');
    assert_eq!(
        first_headers.get("content-id").map(String::as_str),
        Some(start)
    );
    let (resources, version, full) = rlmi(first);
    let mut by_uri = HashMap::new();
    assert_eq!(resources.len(), parts.len() - 1, "one part per resource");
    for (uri, cid) in resources {
        let (h, pidf) = parts[1..]
            .iter()
            .find(|(h, _)| h.get("content-id").map(String::as_str) == Some(&format!("<{cid}>")))
            .unwrap_or_else(|| panic!("no part with Content-ID <{cid}>"));
        assert!(
            h.get("content-type")
                .is_some_and(|t| t.starts_with("application/pidf+xml")),
            "{h:?}"
        );
        assert!(pidf.contains(&format!("entity=\"{uri}\"")), "{pidf}");
        by_uri.insert(uri, pidf.clone());
    }
    (by_uri, version, full)
}

const LIST_HEADERS: &str = "Supported: eventlist\r\nAccept: application/pidf+xml, application/rlmi+xml, multipart/related\r\n";

#[test]
fn resource_list_from_the_buddy_list_hook_gets_a_multipart_notify() {
    let api = FakeApi::start(|path, body| {
        if path == "/bl.ashx" && body.contains("\"alice\"") {
            (
                200,
                r#"{"buddies":[{"login":"bob","push":false},{"login":"carol","push":true}]}"#
                    .into(),
            )
        } else {
            (404, "{}".into())
        }
    });
    let site = site(&format!(
        "[web_service]\nipaddr = \"127.0.0.1\"\nport = {}\nusername = \"emc\"\npassword = \"s3cret\"\n",
        api.addr.port()
    ));
    let server = site.start();
    let mut bob = Ua::new(server.udp, "bob", "builder");
    publish(&mut bob, &pidf("bob", true, "online"), None);
    let mut alice = Ua::new(server.udp, "alice", "wonderland");
    let ok = subscribe(&mut alice, "alice", LIST_HEADERS);
    assert_eq!(ok.header(&HeaderName::Require), Some("eventlist"));

    let n = alice.expect_request("NOTIFY", 10);
    let (parts, version, full) = list_notify(&n);
    assert_eq!((version.as_str(), full.as_str()), ("0", "true"));
    let bob_uri = format!("sip:bob@{REALM}");
    let carol_uri = format!("sip:carol@{REALM}");
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert!(parts[&bob_uri].contains("<basic>open</basic>"));
    // carol published nothing but can be woken by push
    assert!(
        parts[&carol_uri].contains("ferroswitch-push"),
        "{}",
        parts[&carol_uri]
    );
    alice.answer(&n, 200);

    // the hook was called with the login and basic auth
    let req = api.wait_for("/bl.ashx", 1).expect("buddy-list call");
    assert_eq!(req.body, "{\"login\":\"alice\"}");
    assert_eq!(req.header("authorization"), Some("Basic ZW1jOnMzY3JldA=="));

    // bob goes away: a partial NOTIFY with only him, version 1
    let etag = publish(&mut bob, &pidf("bob", false, "away"), None);
    let n = alice.expect_request("NOTIFY", 5);
    let (parts, version, full) = list_notify(&n);
    assert_eq!((version.as_str(), full.as_str()), ("1", "false"));
    assert_eq!(parts.keys().collect::<Vec<_>>(), vec![&bob_uri]);
    assert!(parts[&bob_uri].contains("away"));
    alice.answer(&n, 200);
    assert!(!etag.is_empty());
}

#[test]
fn buddy_list_hook_down_gives_an_empty_list_not_a_failure() {
    // a port nobody listens on
    let dead = free_port();
    let site = site(&format!(
        "[web_service]\nipaddr = \"127.0.0.1\"\nport = {dead}\n"
    ));
    let server = site.start();
    let mut alice = Ua::new(server.udp, "alice", "wonderland");
    subscribe(&mut alice, "alice", LIST_HEADERS);
    // the hook's retries take a moment; the NOTIFY then comes with an empty list
    let n = alice.expect_request("NOTIFY", 15);
    let (parts, version, full) = list_notify(&n);
    assert!(parts.is_empty(), "{parts:?}");
    assert_eq!((version.as_str(), full.as_str()), ("0", "true"));
    alice.answer(&n, 200);
    server
        .wait_log(5, |l| l.contains("buddy list unavailable"))
        .expect("the hook failure is logged");
}

#[test]
fn without_a_hook_the_buddies_come_from_the_contacts_table() {
    let site = site("");
    block(async {
        let s = store::Store::connect(&site.db_url).await.unwrap();
        s.add_contact("alice", "carol").await.unwrap();
        s.add_contact("alice", "bob").await.unwrap();
        s.close().await;
    });
    let server = site.start();
    let mut alice = Ua::new(server.udp, "alice", "wonderland");
    subscribe(&mut alice, "alice", LIST_HEADERS);
    let n = alice.expect_request("NOTIFY", 5);
    let (parts, _, _) = list_notify(&n);
    let mut uris: Vec<_> = parts.keys().cloned().collect();
    uris.sort();
    assert_eq!(
        uris,
        [format!("sip:bob@{REALM}"), format!("sip:carol@{REALM}")]
    );
    assert!(parts.values().all(|p| p.contains("<basic>closed</basic>")));
    alice.answer(&n, 200);
}

#[test]
fn message_summary_reports_the_voicemail_counts() {
    let site = site("");
    block(async {
        let s = store::Store::connect(&site.db_url).await.unwrap();
        s.set_voicemail_counts(
            "bob",
            store::VoicemailCounts {
                new: 2,
                old: 8,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        s.close().await;
    });
    let server = site.start();
    let mut bob = Ua::new(server.udp, "bob", "builder");
    let uri = format!("sip:bob@{REALM}");
    let r = bob.request(
        "SUBSCRIBE",
        &uri,
        &uri,
        "Event: message-summary\r\nExpires: 600\r\n",
        None,
        None,
    );
    assert_eq!(r.status(), Some(200));
    let n = bob.expect_request("NOTIFY", 5);
    let b = body(&n);
    assert!(b.contains("Messages-Waiting: yes"), "{b}");
    assert!(b.contains("Voice-Message: 2/8"), "{b}");
    bob.answer(&n, 200);
}

/// SIPp: a device PUBLISHes its presence (digest on the 407), a watcher SUBSCRIBEs and gets
/// the PIDF in its first NOTIFY.
#[test]
fn sipp_publish_then_subscribe() {
    let site = site("");
    let server = site.start();
    let (ok, out) = Sipp::new(&site, "publish.xml", free_port())
        .rows(&["alice;wonderland;sipp-open-note"])
        .target(server.udp)
        .run();
    assert!(ok, "PUBLISH scenario failed:\n{out}");
    let (ok, out) = Sipp::new(&site, "subscribe_presence.xml", free_port())
        .rows(&["bob;builder;alice;sipp-open-note"])
        .target(server.udp)
        .run();
    assert!(ok, "SUBSCRIBE scenario failed:\n{out}");
}

/// A baresip config directory for `login` over UDP, with the presence module, `contacts`
/// listing the buddies it watches, and the stdio UI (which needs a terminal: run it under
/// `script`, see [`baresip_in_a_pty`]).
pub(crate) fn baresip_dir(
    site: &Site,
    server_udp: std::net::SocketAddr,
    login: &str,
    password: &str,
    buddies: &[&str],
) -> std::path::PathBuf {
    let cfg = site.dir.path().join(format!("baresip-{login}"));
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config"),
        "sip_listen 127.0.0.1:0\nmodule_path /usr/lib/baresip/modules\n\
         module stdio.so\nmodule g711.so\nmodule ausine.so\n\
         module_app account.so\nmodule_app contact.so\nmodule_app menu.so\nmodule_app presence.so\n\
         audio_player nil\naudio_source ausine,440\naudio_alert nil\n",
    )
    .unwrap();
    std::fs::write(
        cfg.join("accounts"),
        format!(
            "<sip:{login}@{REALM}>;auth_pass={password};outbound=\"sip:{server_udp};transport=udp\";regint=600;pubint=600\n"
        ),
    )
    .unwrap();
    let contacts: String = buddies
        .iter()
        .map(|b| format!("\"{b}\" <sip:{b}@{REALM}>;presence=p2p\n"))
        .collect();
    std::fs::write(cfg.join("contacts"), contacts).unwrap();
    cfg
}

/// A real client: baresip subscribes to bob's presence through ferroswitch and sees him
/// change from closed to open when bob PUBLISHes (its presence module logs the new status).
#[test]
fn baresip_sees_a_buddy_change_status() {
    require_tool("baresip");
    // baresip (libre) answers MD5 challenges only
    let site = Site::with_registrar("algorithms = [\"MD5\"]\n");
    for (l, p) in [("alice", "wonderland"), ("bob", "builder")] {
        site.add_account(l, p);
    }
    let server = site.start();
    let cfg = baresip_dir(&site, server.udp, "alice", "wonderland", &["bob"]);
    let mut phone = Command::new("baresip")
        .arg("-f")
        .arg(&cfg)
        .args(["-t", "30"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("baresip");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = phone.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut wait_line = |secs: u64, pred: &dyn Fn(&str) -> bool| -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while let Ok(l) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            let hit = pred(&l);
            seen.push(l);
            if hit {
                return true;
            }
        }
        false
    };
    // alice's baresip registers, then subscribes to bob (who has published nothing: offline)
    let first = wait_line(15, &|l| l.contains("200 OK"));
    std::thread::sleep(Duration::from_secs(2));
    let mut bob = Ua::new(server.udp, "bob", "builder");
    publish(&mut bob, &pidf("bob", true, "baresip watches me"), None);
    // baresip prints `<sip:bob@...> changed status from Offline to Online`
    let online = wait_line(10, &|l| {
        l.contains("sip:bob@") && l.contains("changed status") && l.contains("Online")
    });
    let _ = phone.kill();
    let _ = phone.wait();
    assert!(
        online,
        "baresip did not see bob come online (registered: {first}):\n{}",
        seen.join("\n")
    );
}

/// Runs baresip on `cfg` for at most `secs` inside a pseudo-terminal (`script`, util-linux),
/// so its stdio UI runs and prints what the user would see (incoming messages). Its stdin is
/// kept open (EOF would make stdio quit): write `q` to it to end baresip.
pub(crate) fn baresip_in_a_pty(cfg: &std::path::Path, secs: u32) -> std::process::Child {
    require_tool("script");
    Command::new("script")
        .args(["-qfec"])
        .arg(format!("baresip -f {} -t {secs}", cfg.display()))
        .arg("/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script + baresip")
}
