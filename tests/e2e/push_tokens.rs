//! Push tokens reaching the server besides REGISTER: the operator's `ferroswitch push
//! add|list|del`, through the real binary on a site's SQLite database.

use crate::harness::{block, Site, BIN};

const IPHONE: &str = "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";
const ANDROID: &str = "<urn:uuid:11111111-2222-4333-8444-555555555555>";
/// An APNs device token (64 hex digits).
const APNS_TOKEN: &str = "7c1f0a3be5d24f6a9b8c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c";
/// An FCM registration token.
const FCM_TOKEN: &str = "fGx1R2sTQkW:APA91bHq-Example_Token_0123456789abcdefghijklmnopqrstuvwxyz";

/// The live push tokens in the site's database.
fn stored(site: &Site) -> Vec<store::PushToken> {
    block(async {
        let s = store::Store::connect(&site.db_url).await.expect("open db");
        let t = s.list_push_tokens(None).await.expect("list push tokens");
        s.close().await;
        t
    })
}

fn cli_ok(site: &Site, args: &[&str]) -> String {
    let (ok, out, err) = site.cli(args);
    assert!(ok, "{args:?} failed: {err}");
    out
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
