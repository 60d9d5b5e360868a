//! The driver of the API's SIP agent ([`b2bua::third_party::ApiCalls`]): one task owning its
//! loopback UDP socket and clock. HTTP handlers send [`Command`]s with a oneshot for the
//! answer; status events go out on a channel to the notification hub (`channels.rs`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use b2bua::third_party::{AgentConfig, ApiCallInfo, ApiCalls, ApiEvent, CommandError};
use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// What a voice session asks of the agent.
#[derive(Debug)]
pub(crate) enum Action {
    ClickToCall {
        login: String,
        destination: String,
    },
    FromEndpoint {
        login: String,
        destination: String,
        sdp: String,
    },
    Answer(u64, String),
    Hold(u64),
    Resume(u64),
    Dtmf(u64, String),
    Transfer(u64, String),
    HangUp(u64),
}

#[derive(Debug)]
pub(crate) enum Command {
    Act(Action, oneshot::Sender<Result<u64, CommandError>>),
    Get(u64, oneshot::Sender<Option<ApiCallInfo>>),
    List(oneshot::Sender<Vec<ApiCallInfo>>),
}

/// The handlers' end of the agent.
#[derive(Debug, Clone)]
pub(crate) struct AgentLink {
    tx: mpsc::UnboundedSender<Command>,
}

/// The agent task is gone or did not answer within 2 s.
#[derive(Debug, thiserror::Error)]
#[error("the call agent did not answer")]
pub(crate) struct AgentGone;

impl AgentLink {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, AgentGone> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| AgentGone)?;
        match tokio::time::timeout(Duration::from_secs(2), answer).await {
            Ok(Ok(v)) => Ok(v),
            _ => Err(AgentGone),
        }
    }

    pub(crate) async fn act(&self, a: Action) -> Result<Result<u64, CommandError>, AgentGone> {
        self.ask(|r| Command::Act(a, r)).await
    }

    pub(crate) async fn get(&self, id: u64) -> Result<Option<ApiCallInfo>, AgentGone> {
        self.ask(|r| Command::Get(id, r)).await
    }

    pub(crate) async fn list(&self) -> Result<Vec<ApiCallInfo>, AgentGone> {
        self.ask(Command::List).await
    }
}

/// Binds the agent's socket beside the switch's UDP address (same family, loopback) and
/// starts its task; returns the link and the socket's address (for the dispatcher to trust).
pub(crate) async fn spawn(
    switch: SocketAddr,
    domain: String,
    events: mpsc::UnboundedSender<ApiEvent>,
) -> std::io::Result<(AgentLink, SocketAddr)> {
    let switch = if switch.ip().is_unspecified() {
        let ip: std::net::IpAddr = if switch.is_ipv4() {
            [127, 0, 0, 1].into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        SocketAddr::new(ip, switch.port())
    } else {
        switch
    };
    let bind: SocketAddr = if switch.ip().is_loopback() {
        SocketAddr::new(switch.ip(), 0)
    } else if switch.is_ipv4() {
        "127.0.0.1:0".parse().expect("literal")
    } else {
        "[::1]:0".parse().expect("literal")
    };
    let socket = Arc::new(UdpSocket::bind(bind).await?);
    let local = socket.local_addr()?;
    let cfg = AgentConfig {
        local,
        switch,
        domain,
        user_agent: format!("ferroswitch-api/{}", env!("CARGO_PKG_VERSION")),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(ApiCalls::new(cfg), socket, rx, events));
    Ok((AgentLink { tx }, local))
}

async fn run(
    mut core: ApiCalls,
    socket: Arc<UdpSocket>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<ApiEvent>,
) {
    let mut buf = vec![0u8; 65_535];
    let far = Instant::now() + Duration::from_secs(86_400);
    loop {
        let deadline = core.poll_timeout().unwrap_or(far);
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => core.handle_datagram(Instant::now(), Bytes::copy_from_slice(&buf[..n]), from),
                Err(e) => tracing::debug!("API agent socket: {e}"),
            },
            c = commands.recv() => match c {
                Some(c) => command(&mut core, c),
                None => return,
            },
            () = tokio::time::sleep_until(deadline.into()) => core.handle_timeout(Instant::now()),
        }
        while let Some(t) = core.poll_transmit() {
            if let Err(e) = socket.send_to(&t.payload, t.to.remote).await {
                tracing::warn!(to = %t.to.remote, "API agent send: {e}");
            }
        }
        while let Some(ev) = core.poll_event() {
            tracing::info!(call = ev.call, login = %ev.login, status = ev.status.name(), code = ?ev.code, "API call status");
            let _ = events.send(ev);
        }
    }
}

fn command(core: &mut ApiCalls, c: Command) {
    let now = Instant::now();
    match c {
        Command::Act(a, reply) => {
            let r = match a {
                Action::ClickToCall { login, destination } => {
                    core.click_to_call(now, &login, &destination)
                }
                Action::FromEndpoint {
                    login,
                    destination,
                    sdp,
                } => core.call_from_endpoint(now, &login, &destination, &sdp),
                Action::Answer(id, sdp) => core.answer(now, id, &sdp).map(|()| id),
                Action::Hold(id) => core.hold(now, id).map(|()| id),
                Action::Resume(id) => core.resume(now, id).map(|()| id),
                Action::Dtmf(id, d) => core.dtmf(now, id, &d).map(|()| id),
                Action::Transfer(id, t) => core.transfer(now, id, &t).map(|()| id),
                Action::HangUp(id) => core.hang_up(now, id).map(|()| id),
            };
            let _ = reply.send(r);
        }
        Command::Get(id, reply) => {
            let _ = reply.send(core.info(id));
        }
        Command::List(reply) => {
            let _ = reply.send(core.list());
        }
    }
}
