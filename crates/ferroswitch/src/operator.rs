//! What the operator (the admin API) asks of the SIP core, which runs in the dispatcher task:
//! each [`CoreRequest`] carries a oneshot for the answer; [`CoreLink::ask`] sends one on the
//! dispatcher's own channel and waits for the answer (2 s at most). The dispatcher answers in
//! `dispatcher/operator.rs`.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// How long the API waits for the dispatcher before answering 503.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// A question or command for the SIP core.
#[derive(Debug)]
pub(crate) enum CoreRequest {
    /// The registrar's live bindings (all logins, or one), expired ones left out.
    Registrations {
        login: Option<String>,
        reply: oneshot::Sender<Vec<(String, registrar::Binding)>>,
    },
    /// Removes one binding of `login` (by its key) or all of them; answers how many went.
    Unregister {
        login: String,
        key: Option<String>,
        reply: oneshot::Sender<usize>,
    },
    /// The calls not ended yet.
    Calls {
        reply: oneshot::Sender<Vec<b2bua::CallSummary>>,
    },
    /// The call-control API's endpoint for `login` (a registration session, docs/api.md): a
    /// binding pointing at the API agent (not stored: sessions live in memory), or its removal.
    ApiBinding {
        login: String,
        key: String,
        binding: Option<Box<registrar::Binding>>,
    },
    /// Hangs a call up; answers whether there was such a call to end.
    HangUp {
        id: u64,
        reply: oneshot::Sender<bool>,
    },
}

/// The admin API's end of the channels to the dispatchers (one per core shard, `shards.rs`).
#[derive(Debug, Clone)]
pub(crate) struct CoreLink {
    tx: std::sync::Arc<[mpsc::UnboundedSender<CoreRequest>]>,
}

impl CoreRequest {
    /// The shard that answers: the login's (its bindings are written there), the call's; the
    /// location table is shared, so any shard lists every binding.
    fn shard(&self, count: usize) -> usize {
        match self {
            Self::Registrations { login: None, .. } | Self::Calls { .. } => 0,
            Self::Registrations {
                login: Some(login), ..
            }
            | Self::Unregister { login, .. }
            | Self::ApiBinding { login, .. } => sip_message::shard::index(login, count),
            Self::HangUp { id, .. } => b2bua::shard_of_call(*id, count),
        }
    }
}

/// The SIP core did not answer (not running, or stuck for 2 s).
#[derive(Debug, thiserror::Error)]
#[error("the SIP core did not answer within {ANSWER_TIMEOUT:?}")]
pub(crate) struct NoAnswer;

impl CoreLink {
    /// The link and each shard's receiving end.
    pub(crate) fn new(shards: usize) -> (Self, Vec<mpsc::UnboundedReceiver<CoreRequest>>) {
        let (tx, rx): (Vec<_>, Vec<_>) = (0..shards.max(1))
            .map(|_| mpsc::unbounded_channel())
            .unzip();
        (Self { tx: tx.into() }, rx)
    }

    /// Sends `r` to the shard that answers it ([`CoreRequest`]).
    fn send(&self, r: CoreRequest) -> Result<(), NoAnswer> {
        let to = r.shard(self.tx.len());
        self.tx[to].send(r).map_err(|_| NoAnswer)
    }

    /// Sends `r` without waiting for an answer.
    pub(crate) fn tell(&self, r: CoreRequest) -> Result<(), NoAnswer> {
        self.send(r)
    }

    /// The calls of every shard.
    pub(crate) async fn calls(&self) -> Result<Vec<b2bua::CallSummary>, NoAnswer> {
        let mut all = Vec::new();
        for tx in self.tx.iter() {
            let (reply, answer) = oneshot::channel();
            tx.send(CoreRequest::Calls { reply })
                .map_err(|_| NoAnswer)?;
            match tokio::time::timeout(ANSWER_TIMEOUT, answer).await {
                Ok(Ok(calls)) => all.extend(calls),
                _ => return Err(NoAnswer),
            }
        }
        Ok(all)
    }

    /// Sends the request `make` builds around the reply sender, and waits for the answer.
    pub(crate) async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> CoreRequest,
    ) -> Result<T, NoAnswer> {
        let (reply, answer) = oneshot::channel();
        self.send(make(reply))?;
        match tokio::time::timeout(ANSWER_TIMEOUT, answer).await {
            Ok(Ok(v)) => Ok(v),
            _ => Err(NoAnswer),
        }
    }
}
