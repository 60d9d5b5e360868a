//! Push tokens reaching the server besides REGISTER: the app's `POST`/`DELETE
//! /api/push-tokens` on the admin API (Digest with its SIP credentials, or Basic from
//! loopback) and the operator's `ferroswitch push add|list|del`, through the real binary on a
//! site's SQLite database.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use sip_message::digest::{self, Algorithm, ResponseParams};

use crate::harness::{block, Server, Site, BIN};

const PATH: &str = "/api/push-tokens";
const IPHONE: &str = "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";
const ANDROID: &str = "<urn:uuid:11111111-2222-4333-8444-555555555555>";
/// An APNs device token (64 hex digits).
const APNS_TOKEN: &str = "7c1f0a3be5d24f6a9b8c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c";
/// An FCM registration token.
const FCM_TOKEN: &str = "fGx1R2sTQkW:APA91bHq-Example_Token_0123456789abcdefghijklmnopqrstuvwxyz";

/// A site whose server has an admin listener, with the account alice/s3cret.
fn site() -> Site {
    let site = Site::with_sections("[admin]\nlisten = \"127.0.0.1:0\"\n");
    site.add_account("alice", "s3cret");
    site
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// `(lower-case name, value)` in order.
    headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Answer {
    fn headers(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// One HTTP/1.1 request over a fresh connection from 127.0.0.1.
pub(crate) fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: &str,
) -> Answer {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the admin API");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(a) = authorization {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("a UTF-8 answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("head and body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {raw:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// The `Authorization` value answering `challenge` (a `WWW-Authenticate` value) for
/// `method PATH` with nonce count `nc`.
fn digest_authorization(
    challenge: &str,
    method: &str,
    login: &str,
    password: &str,
    nc: u32,
) -> String {
    let c = sip_message::Challenge::parse(challenge).expect("a digest challenge");
    let alg = Algorithm::from_name(c.algorithm.as_deref().unwrap_or("MD5")).unwrap();
    let nc = format!("{nc:08x}");
    let cnonce = "0a4f113b";
    let response = digest::response(
        alg,
        &alg.ha1(login, &c.realm, password),
        &ResponseParams {
            method,
            uri: PATH,
            nonce: &c.nonce,
            qop_auth: Some((&nc, cnonce)),
        },
    );
    format!(
        "Digest username=\"{login}\", realm=\"{}\", nonce=\"{}\", uri=\"{PATH}\", \
         algorithm={}, response=\"{response}\", qop=auth, nc={nc}, cnonce=\"{cnonce}\"",
        c.realm,
        c.nonce,
        alg.name()
    )
}

/// The challenge for `algorithm` in a 401.
fn challenge<'a>(answer: &'a Answer, algorithm: &str) -> &'a str {
    answer
        .headers("www-authenticate")
        .into_iter()
        .find(|c| {
            c.ends_with(&format!("algorithm={algorithm}"))
                || c.contains(&format!("algorithm={algorithm},"))
        })
        .unwrap_or_else(|| panic!("no {algorithm} challenge in {answer:?}"))
}

pub(crate) fn basic(login: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"))
    )
}

/// The live push tokens in the site's database.
fn stored(site: &Site) -> Vec<store::PushToken> {
    block(async {
        let s = store::Store::connect(&site.db_url).await.expect("open db");
        let t = s.list_push_tokens(None).await.expect("list push tokens");
        s.close().await;
        t
    })
}

pub(crate) fn admin(server: &Server) -> SocketAddr {
    server.http.expect("the admin API listens")
}

fn cli_ok(site: &Site, args: &[&str]) -> String {
    let (ok, out, err) = site.cli(args);
    assert!(ok, "{args:?} failed: {err}");
    out
}

#[test]
fn the_app_sets_its_token_with_digest_credentials() {
    let site = site();
    let server = site.start();
    let addr = admin(&server);
    let body = format!(
        r#"{{"instance":"{IPHONE}","token":"{APNS_TOKEN}","platform":"apns-voip","param":"ABCD1234.com.example.app.voip"}}"#
    );

    // No credentials: 401 with an MD5 and a SHA-256 challenge in the registrar's realm.
    let first = http(addr, "POST", PATH, None, &body);
    assert_eq!(first.status, 401, "{first:?}");
    let challenges = first.headers("www-authenticate");
    assert_eq!(challenges.len(), 2, "{first:?}");
    for (c, alg) in challenges.iter().zip(["MD5", "SHA-256"]) {
        assert!(
            c.starts_with("Digest realm=\"ferroswitch.test\", nonce=\"")
                && c.contains("qop=\"auth\"")
                && c.ends_with(&format!("algorithm={alg}")),
            "{c}"
        );
    }
    assert!(first.body.contains("\"error\""), "{first:?}");
    assert!(stored(&site).is_empty());

    // The digest exchange (MD5): 204, stored for alice.
    let auth = digest_authorization(challenge(&first, "MD5"), "POST", "alice", "s3cret", 1);
    let done = http(addr, "POST", PATH, Some(&auth), &body);
    assert_eq!(done.status, 204, "{done:?}");
    assert_eq!(done.body, "");
    let tokens = stored(&site);
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let t = &tokens[0];
    assert_eq!(
        (
            t.login.as_str(),
            t.instance.as_str(),
            t.token.as_str(),
            t.platform.as_str(),
            t.param.as_str()
        ),
        (
            "alice",
            IPHONE,
            APNS_TOKEN,
            "apns-voip",
            "ABCD1234.com.example.app.voip"
        )
    );
    // the log names the device and a shortened token, never the whole token
    let line = server
        .wait_log(5, |l| l.contains("push token set by the app"))
        .unwrap_or_else(|seen| panic!("no log line; saw {seen:#?}"));
    assert!(
        line.contains(IPHONE) && line.contains("7c1f0a3b…"),
        "{line}"
    );
    assert!(!line.contains(APNS_TOKEN), "{line}");

    // The same credentials again (same nonce count): a replay, 401 with stale=true.
    let replay = http(addr, "POST", PATH, Some(&auth), &body);
    assert_eq!(replay.status, 401, "{replay:?}");
    assert!(
        replay
            .headers("www-authenticate")
            .iter()
            .all(|c| c.contains("stale=true")),
        "{replay:?}"
    );
    // The next count of the same nonce is good; SHA-256 too. A second device.
    let body2 = format!(r#"{{"instance":"{ANDROID}","token":"{FCM_TOKEN}","platform":"fcm"}}"#);
    let auth = digest_authorization(challenge(&first, "SHA-256"), "POST", "alice", "s3cret", 2);
    let done = http(addr, "POST", PATH, Some(&auth), &body2);
    assert_eq!(done.status, 204, "{done:?}");

    // The CLI shows both, tokens shortened to 12 characters.
    let list = cli_ok(&site, &["push", "list", "alice"]);
    let lines: Vec<&str> = list.lines().collect();
    assert!(
        lines[0].starts_with("login") && lines[0].contains("platform"),
        "{list}"
    );
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &cells[..4],
        ["alice", IPHONE, "apns-voip", "7c1f0a3be5d2…"],
        "{list}"
    );
    let cells: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        &cells[..4],
        ["alice", ANDROID, "fcm", "fGx1R2sTQkW:…"],
        "{list}"
    );
    assert!(
        !list.contains(APNS_TOKEN) && !list.contains(FCM_TOKEN),
        "{list}"
    );
    assert_eq!(lines[3], "2 token(s)", "{list}");
    server.stop();
}

#[test]
fn wrong_credentials_are_refused_and_logged_without_the_password() {
    let site = site();
    site.add_account("bob", "b0bpass");
    let (ok, _, err) = site.cli(&["account", "set", "bob", "--disable"]);
    assert!(ok, "{err}");
    let server = site.start();
    let addr = admin(&server);
    let body = format!(r#"{{"instance":"{IPHONE}","token":"{APNS_TOKEN}","platform":"apns"}}"#);

    let first = http(addr, "POST", PATH, None, &body);
    let wrong = digest_authorization(challenge(&first, "MD5"), "POST", "alice", "guess-pw", 1);
    let answer = http(addr, "POST", PATH, Some(&wrong), &body);
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(
        answer.headers("www-authenticate").len(),
        2,
        "challenged again"
    );
    let line = server
        .wait_log(5, |l| l.contains("WARN") && l.contains("wrong password"))
        .unwrap_or_else(|seen| panic!("no WARN line; saw {seen:#?}"));
    assert!(
        line.contains("alice") && !line.contains("guess-pw"),
        "{line}"
    );

    // an unknown login looks the same as a wrong password
    let first = http(addr, "POST", PATH, None, &body);
    let nobody = digest_authorization(challenge(&first, "MD5"), "POST", "nobody", "s3cret", 1);
    assert_eq!(http(addr, "POST", PATH, Some(&nobody), &body).status, 401);
    // Basic with a wrong password, even from loopback
    let answer = http(addr, "POST", PATH, Some(&basic("alice", "guess-pw")), &body);
    assert_eq!(answer.status, 401, "{answer:?}");
    // a disabled account, right password
    let first = http(addr, "POST", PATH, None, &body);
    let bob = digest_authorization(challenge(&first, "MD5"), "POST", "bob", "b0bpass", 1);
    let answer = http(addr, "POST", PATH, Some(&bob), &body);
    assert_eq!(answer.status, 403, "{answer:?}");
    assert!(answer.body.contains("disabled"), "{answer:?}");
    assert!(stored(&site).is_empty(), "nothing stored");

    // The login comes from the credentials only: a body naming bob stores alice's token.
    let body = format!(
        r#"{{"login":"bob","instance":"{IPHONE}","token":"{APNS_TOKEN}","platform":"apns"}}"#
    );
    let answer = http(addr, "POST", PATH, Some(&basic("alice", "s3cret")), &body);
    assert_eq!(answer.status, 204, "{answer:?}");
    let tokens = stored(&site);
    assert_eq!(
        tokens.iter().map(|t| t.login.as_str()).collect::<Vec<_>>(),
        ["alice"]
    );
    server.stop();
}

#[test]
fn basic_from_loopback_sets_and_delete_removes() {
    let site = site();
    let server = site.start();
    let addr = admin(&server);
    let auth = basic("alice", "s3cret");
    let body = format!(r#"{{"instance":"{ANDROID}","token":"{FCM_TOKEN}","platform":"fcm"}}"#);
    let answer = http(addr, "POST", PATH, Some(&auth), &body);
    assert_eq!(answer.status, 204, "{answer:?}");
    assert_eq!(stored(&site).len(), 1);

    let delete = format!(r#"{{"instance":"{ANDROID}"}}"#);
    let answer = http(addr, "DELETE", PATH, Some(&auth), &delete);
    assert_eq!(answer.status, 204, "{answer:?}");
    assert!(stored(&site).is_empty());
    let list = cli_ok(&site, &["push", "list"]);
    assert!(list.ends_with("0 token(s)\n"), "{list}");
    let answer = http(addr, "DELETE", PATH, Some(&auth), &delete);
    assert_eq!(answer.status, 404, "{answer:?}");
    assert!(answer.body.contains("has no push token"), "{answer:?}");

    // DELETE goes through the same digest exchange
    let first = http(addr, "DELETE", PATH, None, &delete);
    assert_eq!(first.status, 401, "{first:?}");
    let digest = digest_authorization(challenge(&first, "SHA-256"), "DELETE", "alice", "s3cret", 1);
    assert_eq!(
        http(addr, "DELETE", PATH, Some(&digest), &delete).status,
        404
    );
    server.stop();
}

#[test]
fn bad_bodies_are_400_naming_the_field() {
    let site = site();
    let server = site.start();
    let addr = admin(&server);
    let auth = basic("alice", "s3cret");
    let long_token = "a".repeat(1025);
    let cases = [
        ("{not json", "not valid JSON", None),
        ("[1,2]", "must be a JSON object", None),
        (
            r#"{"token":"t","platform":"fcm"}"#,
            "instance must not be empty",
            Some("instance"),
        ),
        (
            r#"{"instance":"device-1","token":"t","platform":"fcm"}"#,
            "instance must be the device's +sip.instance",
            Some("instance"),
        ),
        (
            &format!(r#"{{"instance":"{IPHONE}","platform":"fcm"}}"#),
            "token must not be empty",
            Some("token"),
        ),
        (
            &format!(r#"{{"instance":"{IPHONE}","token":"{long_token}","platform":"fcm"}}"#),
            "token is 1025 characters long, at most 1024 are allowed",
            Some("token"),
        ),
        (
            &format!(r#"{{"instance":"{IPHONE}","token":"t","platform":""}}"#),
            "platform must not be empty",
            Some("platform"),
        ),
        (
            &format!(r#"{{"instance":"{IPHONE}","token":"t","platform":"fcm","param":7}}"#),
            "param must be a string",
            Some("param"),
        ),
    ];
    for (body, error, field) in cases {
        let answer = http(addr, "POST", PATH, Some(&auth), body);
        assert_eq!(answer.status, 400, "{body}: {answer:?}");
        assert!(
            answer.headers("content-type").contains(&"application/json"),
            "{answer:?}"
        );
        assert!(
            answer.body.starts_with("{\"error\":\"") && answer.body.contains(error),
            "{body}: {answer:?}"
        );
        if let Some(f) = field {
            assert!(
                answer.body.ends_with(&format!("\"field\":\"{f}\"}}")),
                "{body}: {answer:?}"
            );
        }
    }
    let answer = http(addr, "DELETE", PATH, Some(&auth), "{}");
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(answer.body.contains("instance"), "{answer:?}");
    assert!(stored(&site).is_empty());
    server.stop();
}

#[test]
fn push_cli_adds_lists_and_deletes() {
    let site = Site::new();
    let (ok, _, err) = site.cli(&["push", "add", "alice", IPHONE, APNS_TOKEN]);
    assert!(!ok && err.contains("no such account alice"), "{err}");

    site.add_account("alice", "pw");
    site.add_account("bob", "pw");
    let out = cli_ok(&site, &["push", "add", "alice", ANDROID, FCM_TOKEN]);
    assert!(
        out.contains("fcm fGx1R2sTQkW:…"),
        "the default platform is fcm: {out}"
    );
    // a bare URN gets its angle brackets; the platform is kept in lowercase
    let bare = IPHONE.trim_start_matches('<').trim_end_matches('>');
    cli_ok(
        &site,
        &[
            "push",
            "add",
            "alice",
            bare,
            APNS_TOKEN,
            "--platform",
            "APNS",
            "--param",
            "com.example.app",
        ],
    );
    cli_ok(
        &site,
        &["push", "add", "bob", IPHONE, "bobs-token-0123456789"],
    );

    let list = cli_ok(&site, &["push", "list"]);
    let rows: Vec<Vec<&str>> = list
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        &rows[0][..4],
        ["alice", IPHONE, "apns", "7c1f0a3be5d2…"],
        "{list}"
    );
    assert_eq!(
        &rows[1][..4],
        ["alice", ANDROID, "fcm", "fGx1R2sTQkW:…"],
        "{list}"
    );
    assert_eq!(
        &rows[2][..4],
        ["bob", IPHONE, "fcm", "bobs-token-0…"],
        "{list}"
    );
    assert_eq!(rows[3], ["3", "token(s)"], "{list}");
    let alice = stored(&site)
        .into_iter()
        .find(|t| t.login == "alice" && t.instance == IPHONE)
        .expect("stored");
    assert_eq!(
        (alice.token.as_str(), alice.param.as_str()),
        (APNS_TOKEN, "com.example.app")
    );
    let list = cli_ok(&site, &["push", "list", "bob"]);
    assert!(
        list.contains("bob") && !list.contains("alice") && list.contains("1 token(s)"),
        "{list}"
    );

    // bad fields are refused, naming the field
    for (args, error) in [
        (
            vec!["push", "add", "alice", "device-1", "t"],
            "instance must be the device's +sip.instance",
        ),
        (
            vec!["push", "add", "alice", IPHONE, "a b"],
            "token must be printable ASCII",
        ),
        (
            vec!["push", "add", "alice", IPHONE, "t", "--platform", "ap ns"],
            "--platform must be letters",
        ),
        (
            vec!["push", "add", "a b", IPHONE, "t"],
            "not a valid SIP user part",
        ),
    ] {
        let (ok, _, err) = site.cli(&args);
        assert!(!ok && err.contains(error), "{args:?}: {err}");
    }

    let out = cli_ok(&site, &["push", "del", "alice", IPHONE]);
    assert!(out.contains("removed"), "{out}");
    // none left for that device: exit code 1 and a clear message
    let del = std::process::Command::new(BIN)
        .arg("-c")
        .arg(site.config())
        .args(["push", "del", "alice", IPHONE])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&del.stderr);
    assert_eq!(del.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("alice has no push token for device {IPHONE}"))
            && err.contains("ferroswitch push list alice"),
        "{err}"
    );
    let list = cli_ok(&site, &["push", "list"]);
    assert!(
        list.contains("2 token(s)") && !list.contains("apns"),
        "{list}"
    );
}
