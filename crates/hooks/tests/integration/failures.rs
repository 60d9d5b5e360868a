//! Timeouts, retries and their limits, and the log line per failure.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hooks::{CallEvent, Endpoint, HookClient, HookConfig, HookError, Party, PushEvent};

use crate::fake_api::{Canned, FakeApi};

fn config(url: &str, timeout_ms: u64, retries: u32) -> HookConfig {
    HookConfig {
        buddy_list: Some(
            Endpoint::new(&format!("{url}/bl.ashx"))
                .unwrap()
                .with_credentials("vs", "hunter2"),
        ),
        push: Some(Endpoint::new(&format!("{url}/emc.ashx")).unwrap()),
        sms: None,
        timeout: Duration::from_millis(timeout_ms),
        retries,
        backoff: Duration::from_millis(20),
    }
}

fn push_event() -> PushEvent {
    PushEvent::incoming_call(CallEvent::new(
        Party::new("alice", None),
        "bob",
        "c1",
        ("t1".into(), "t2".into()),
        vec![],
    ))
}

/// Captures the log lines written while it is alive (this test's thread only).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

impl Logs {
    /// The process-wide log buffer (a global subscriber: a per-thread one can miss events
    /// whose callsite another test thread registered first).
    fn global() -> &'static Self {
        static LOGS: std::sync::OnceLock<Logs> = std::sync::OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = Self::default();
            let sub = tracing_subscriber::fmt()
                .with_writer(logs.clone())
                .with_ansi(false)
                .finish();
            tracing::subscriber::set_global_default(sub).expect("no other global subscriber");
            logs
        })
    }

    /// Lines that mention `needle` (tests run in parallel: pick your own).
    fn lines_with(&self, needle: &str) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

#[tokio::test]
async fn server_error_then_success_is_retried() {
    let logs = Logs::global();
    let api = FakeApi::start(
        vec![Canned::status(500), Canned::status(503)],
        Canned::json(r#"{"buddies":["bob"]}"#),
    )
    .await;
    let c = HookClient::new(config(&api.url(""), 2_000, 2)).unwrap();
    let buddies = c.buddy_list("alice").await.unwrap();
    assert_eq!(buddies.len(), 1);
    assert_eq!(api.seen().len(), 3);
    // push retries a 5xx too (the API reported its own failure)
    let api2 = FakeApi::start(vec![Canned::status(502)], Canned::status(200)).await;
    let c2 = HookClient::new(config(&api2.url(""), 2_000, 1)).unwrap();
    c2.push(&push_event()).await.unwrap();
    assert_eq!(api2.seen().len(), 2);

    let lines = logs.lines_with(&api.addr.to_string());
    let failures: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("operator API call failed"))
        .collect();
    assert_eq!(failures.len(), 2, "{lines:#?}");
    assert!(failures[0].contains("WARN"));
    assert!(failures[0].contains("hook=\"buddy_list\"") || failures[0].contains("hook=buddy_list"));
    assert!(failures[0].contains(&format!("url=http://{}/bl.ashx", api.addr)));
    assert!(failures[0].contains("attempt=1"));
    assert!(failures[0].contains("status=500"));
    assert!(failures[1].contains("attempt=2") && failures[1].contains("status=503"));
    assert_eq!(logs.lines_with(&api2.addr.to_string()).len(), 1);
    assert!(logs.lines_with("hunter2").is_empty());
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let api = FakeApi::start(vec![], Canned::status(400)).await;
    let c = HookClient::new(config(&api.url(""), 2_000, 3)).unwrap();
    let err = c.buddy_list("alice").await.unwrap_err();
    assert!(matches!(
        err,
        HookError::Status {
            status: 400,
            attempts: 1,
            ..
        }
    ));
    assert!(!err.is_transient());
    assert_eq!(api.seen().len(), 1);
    // nor are redirects followed
    let mut moved = Canned::status(302);
    moved.location = Some(api.url("/elsewhere"));
    let api = FakeApi::start(vec![], moved).await;
    let c = HookClient::new(config(&api.url(""), 2_000, 3)).unwrap();
    assert!(matches!(
        c.push(&push_event()).await,
        Err(HookError::Status {
            status: 302,
            attempts: 1,
            ..
        })
    ));
    assert_eq!(api.seen().len(), 1);
}

#[tokio::test]
async fn retries_are_bounded() {
    let api = FakeApi::start(vec![], Canned::status(500)).await;
    let c = HookClient::new(config(&api.url(""), 2_000, 2)).unwrap();
    let err = c.buddy_list("alice").await.unwrap_err();
    assert!(matches!(
        err,
        HookError::Status {
            status: 500,
            attempts: 3,
            ..
        }
    ));
    assert!(err.is_transient());
    assert_eq!(api.seen().len(), 3);
}

#[tokio::test]
async fn a_server_that_is_down_fails_fast() {
    // a port nobody listens on: bind, note it, close
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = HookClient::new(config(&format!("http://127.0.0.1:{port}"), 2_000, 2)).unwrap();
    let t0 = Instant::now();
    let err = c.buddy_list("alice").await.unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    match &err {
        HookError::Transport {
            attempts,
            url,
            reason,
            ..
        } => {
            assert_eq!(*attempts, 3, "a refused connection is retried");
            assert_eq!(url, &format!("http://127.0.0.1:{port}/bl.ashx"));
            assert!(!reason.is_empty());
        }
        other => panic!("{other:?}"),
    }
    // push, too: the request never reached the API
    let err = c.push(&push_event()).await.unwrap_err();
    assert!(matches!(err, HookError::Transport { attempts: 3, .. }));
}

#[tokio::test]
async fn the_timeout_is_honoured() {
    let api = FakeApi::start(vec![], Canned::status(200).delayed(Duration::from_secs(5))).await;
    // push is not repeated after a timeout: the API may have sent the notification
    let c = HookClient::new(config(&api.url(""), 300, 2)).unwrap();
    let t0 = Instant::now();
    let err = c.push(&push_event()).await.unwrap_err();
    let took = t0.elapsed();
    assert!(
        matches!(err, HookError::Timeout { attempts: 1, .. }),
        "{err:?}"
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(api.seen().len(), 1);
    // the buddy list is a read: a timeout is tried again, within the bound
    let t0 = Instant::now();
    let err = c.buddy_list("alice").await.unwrap_err();
    let took = t0.elapsed();
    assert!(
        matches!(err, HookError::Timeout { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(api.seen().len(), 4);
}

#[tokio::test]
async fn unreadable_answers_are_errors() {
    let api = FakeApi::start(vec![], Canned::json("<html>oops</html>")).await;
    let c = HookClient::new(config(&api.url(""), 2_000, 2)).unwrap();
    assert!(matches!(
        c.buddy_list("alice").await,
        Err(HookError::BadResponse { .. })
    ));
    assert_eq!(api.seen().len(), 1, "a 2xx is not retried");
}
