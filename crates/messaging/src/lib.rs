//! `messaging`: MESSAGE (RFC 3428) of ferroswitch, sans-IO — where a MESSAGE goes, forwarding
//! it to a login's devices, storing it when nobody takes it, and delivering stored messages
//! in order, one at a time, when the login comes online.
//!
//! It sits above `sip-message` (parsed requests in, requests and responses out), `dialplan`
//! (a MESSAGE is routed like a call: [`route`]) and `sip-transaction` (only its handle types
//! and the transaction-user trait [`Outbox`]), beside the registrar, presence and the B2BUA
//! as a transaction user. Nothing here does I/O or reads a clock: no sockets, no SQL, no HTTP.
//!
//! # Driving protocol
//!
//! The driver (the binary's `messaging_io`) authenticates the sender, gives
//! [`Messaging::incoming`] the routed [`Destination`], sends what the [`Outbox`] is handed
//! (responses, forwarded MESSAGEs), feeds back final responses of the forwards, and carries
//! out the [`Action`]s (database, HTTP hooks), answering each that names a [`JobId`] or a
//! login.
//!
//! | input | when |
//! |---|---|
//! | [`incoming(now, ..)`](Messaging::incoming) | an authenticated (or trusted) MESSAGE outside a dialog, from a [`Sender`], with its [`Destination`] |
//! | [`handle_timeout(now, ..)`](Messaging::handle_timeout) | at [`poll_timeout`](Messaging::poll_timeout): a forwarded MESSAGE's answer timer |
//! | [`response`](Messaging::response) | a response to one of its forwards (the driver records which client transactions the core started; [`owns`](Messaging::owns) says so too); 408 for a timeout, 503 for a transport error |
//! | [`registered`](Messaging::registered) | a successful REGISTER that leaves the login with a device |
//! | [`stored`](Messaging::stored) | the answer to [`Action::Store`] with a job |
//! | [`sms_done`](Messaging::sms_done) | the answer to [`Action::SmsOut`] |
//! | [`pending_fetched`](Messaging::pending_fetched) | the answer to [`Action::FetchPending`] |
//! | [`marked`](Messaging::marked) | the answer to [`Action::MarkDelivered`] |
//!
//! Time is an `Instant` the driver passes in (the answer timer of a forwarded MESSAGE is the
//! core's own: `poll_timeout`/`handle_timeout`); what the core knows of devices it asks of the
//! [`Devices`] lent with the input. After every input the driver drains
//! [`poll_action`](Messaging::poll_action) in order, then re-arms its timer at
//! [`poll_timeout`](Messaging::poll_timeout).
//!
//! ```text
//!  MESSAGE ─▶ Login, devices ─▶ forward to every device ─ first 2xx ─▶ 200, Store(Delivered)
//!     │                                                  └ all fail ─▶ Store(Deferred) ─▶ 202, Push
//!     ├─▶ Login, no device (or a delivery round pending) ─▶ Store(Deferred) ─▶ 202 (+ Push)
//!     ├─▶ Offnet ─▶ SmsOut ─ accepted ─▶ 202, Store(SentOffnet)
//!     │                      └ failed ──▶ 503, Store(Failed)
//!     └─▶ unknown login / no route: 404; a `reject` entry: its code
//!
//!  delivery round of one login (REGISTER came online, or the login may have deferred messages):
//!   FetchPending ─▶ for each message, oldest first: forward to every device
//!        ├ first 2xx ─▶ MarkDelivered ─▶ (written) ─▶ next message
//!        └ all fail ──▶ Attempted (attempts + 1; Failed after MAX_ATTEMPTS) ─▶ round ends
//! ```
//!
//! A login has at most one round; a trigger during a round makes it fetch again when it
//! ends. A MESSAGE for a login whose round is running is stored rather than forwarded, so it
//! cannot overtake the older messages.

mod answer;
mod delivery;
mod devices;

pub use devices::{Device, Devices, Sender};

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dialplan::{Action as PlanAction, DialPlan, TechPrefix};
use sip_message::{Ids, Message, MessageBuilder, Method, Peer};
use sip_transaction::{ClientKey, Outbox, ServerKey};

/// Largest MESSAGE body accepted (larger: 413).
pub const MAX_BODY: usize = 64 * 1024;
/// Failed delivery attempts after which a stored message is given up (status failed), so
/// one message a device always refuses cannot hold back the ones behind it.
pub const MAX_ATTEMPTS: u32 = 5;
/// Stored messages read per query of a delivery round.
pub const ROUND_BATCH: u32 = 50;

const SERVER: &str = sip_message::PRODUCT;

/// Where a MESSAGE goes, after the sender's tech-prefix rules and the dialing plan.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Destination {
    /// ONNET (`user-lookup`): this login.
    Login(String),
    /// OFFNET (`gateway`): this number, after the entry's strip/prepend, to the SMS hook.
    Offnet(String),
    /// A `reject` entry.
    Reject(u16),
    /// No entry, an empty login, or an entry that takes no messages (service, ring group).
    Unroutable,
}

/// How a trusted peer's system command (voipswitch's `Contacts add`, ...) is told from a
/// chat message: its content type, or a body prefix the operator configures
/// (`[push_service] system_content_types`, `system_body_prefix`). System commands are stored
/// and delivered on REGISTER like any message, but never pushed.
#[derive(Debug, Clone, Default)]
pub struct SystemCommands {
    /// Lowercase, without parameters.
    pub content_types: Vec<String>,
    /// Empty: off.
    pub body_prefix: String,
}

impl SystemCommands {
    /// Whether `msg`, from a trusted peer, carries a system command.
    pub fn matches(&self, msg: &Message) -> bool {
        let ct = msg
            .content_type()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        self.content_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case(ct))
            || (!self.body_prefix.is_empty() && msg.body().starts_with(self.body_prefix.as_bytes()))
    }
}

/// Routes the Request-URI user of a MESSAGE like the B2BUA routes an INVITE.
pub fn route(tech: &TechPrefix, plan: &DialPlan, dialed: &str) -> Destination {
    let Ok(r) = dialplan::resolve(tech, plan, dialed) else {
        return Destination::Unroutable;
    };
    match &r.entry().action {
        PlanAction::UserLookup if !r.rest().is_empty() => Destination::Login(r.rest().to_owned()),
        PlanAction::Gateway { .. } => match r.target_number() {
            Some(n) if !n.is_empty() => Destination::Offnet(n.into_owned()),
            _ => Destination::Unroutable,
        },
        PlanAction::Reject { code } => Destination::Reject(*code),
        _ => Destination::Unroutable,
    }
}

/// One message: what is stored in `sms_inbox` and forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// The sender's login (or, from a trusted peer, its From user).
    pub sender: String,
    /// The sender's display name, sent in the forwarded From.
    pub display_name: Option<String>,
    /// The login (ONNET) or the number after the dialing plan (OFFNET).
    pub recipient: String,
    /// The Call-ID of the sender's MESSAGE: with sender and recipient, the de-duplication key.
    pub call_id: String,
    /// Its CSeq number (part of the de-duplication key too).
    pub cseq: i64,
    /// The MESSAGE's Content-Type (`text/plain` when it had none).
    pub content_type: String,
    /// The body, as sent.
    pub body: Bytes,
}

/// A stored, not yet delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferred {
    /// Its row id in `sms_inbox`.
    pub id: i64,
    /// The message.
    pub text: Text,
    /// Failed delivery attempts so far.
    pub attempts: u32,
}

/// A message's status in `sms_inbox`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A device took it.
    Delivered,
    /// Nobody took it yet: a delivery round sends it.
    Deferred,
    /// Handed to the SMS hook (OFFNET).
    SentOffnet,
    /// The SMS hook did not take it. (A stored message given up after [`MAX_ATTEMPTS`] ends
    /// up failed too, through [`Action::Attempted`].)
    Failed,
}

/// Names work the driver reports back on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(u64);

/// What the driver must do, from [`Messaging::poll_action`], in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum Action {
    /// Write `text` to `sms_inbox` with `status` (de-duplicated); with a job, report with
    /// [`Messaging::stored`].
    Store {
        job: Option<JobId>,
        text: Text,
        status: Status,
    },
    /// POST to the SMS hook; report with [`Messaging::sms_done`].
    SmsOut { job: JobId, text: Text },
    /// Post a `message` push event (the recipient has no device that took it).
    Push { text: Text },
    /// Read `login`'s deferred messages, oldest first; report with
    /// [`Messaging::pending_fetched`].
    FetchPending { login: String, limit: u32 },
    /// Mark a message delivered; report with [`Messaging::marked`].
    MarkDelivered { login: String, id: i64 },
    /// Count a failed delivery attempt; `give_up`: set the status to failed too.
    Attempted { id: i64, give_up: bool },
}

#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "jobs live in one map, a few per message in flight; boxing buys nothing"
)]
enum Job {
    /// A sender's MESSAGE waiting for its answer.
    Incoming {
        key: ServerKey,
        request: Message,
        from: Peer,
        text: Text,
        outstanding: usize,
        answered: bool,
        /// Post a push event once stored (nobody took it).
        push: bool,
        /// A system command from a trusted peer: stored and delivered, never pushed.
        system: bool,
        /// The answer timer fired first: the sender has its 202 (`handle_timeout`).
        early: bool,
    },
    /// A stored message being delivered by its login's round.
    Delivery {
        login: String,
        id: i64,
        attempts: u32,
        outstanding: usize,
        delivered: bool,
    },
}

#[derive(Debug, Default)]
struct Round {
    queue: VecDeque<Deferred>,
    /// The last fetch filled its batch: there may be more.
    full: bool,
    /// Triggered again meanwhile: fetch again at the end.
    again: bool,
}

/// The messaging core. Sans-IO; see the crate docs.
#[derive(Debug)]
pub struct Messaging {
    domain: String,
    jobs: HashMap<JobId, Job>,
    branches: HashMap<ClientKey, JobId>,
    rounds: HashMap<String, Round>,
    /// Logins known to have no deferred message (a round found none since). A successful
    /// REGISTER of any other login starts a round: after a restart each login is asked about
    /// once, and a message stored before the restart is delivered at its next REGISTER.
    clear: HashSet<String>,
    actions: VecDeque<Action>,
    /// The answer timers of forwarded MESSAGEs, earliest first (a job already answered is
    /// skipped when its timer comes up).
    answer_timers: BinaryHeap<Reverse<(Instant, JobId)>>,
    /// How long a sender waits for a device before its 202 (`[calls] message_timeout`).
    answer_after: Duration,
    next_job: u64,
    ids: Ids,
}

impl Messaging {
    /// `domain` is the host of the From/To URIs of forwarded MESSAGEs; `seed` feeds tags,
    /// branches and Call-IDs.
    pub fn new(domain: impl Into<String>, seed: u64) -> Self {
        Self {
            domain: domain.into(),
            jobs: HashMap::new(),
            branches: HashMap::new(),
            rounds: HashMap::new(),
            clear: HashSet::new(),
            actions: VecDeque::new(),
            answer_timers: BinaryHeap::new(),
            answer_after: Duration::from_secs(4),
            next_job: 0,
            ids: Ids::new(seed),
        }
    }

    /// Makes this core shard `index` of `count` (`sip_message::shard`): the tags, branches and
    /// Call-IDs of the MESSAGEs it forwards hash back to `index`, so their answers find it.
    pub fn set_shard(&mut self, index: usize, count: usize) {
        self.ids.set_shard(index, count);
    }

    /// How long a forwarded MESSAGE waits for a device before the sender gets 202 Accepted.
    pub fn set_answer_timeout(&mut self, after: Duration) {
        self.answer_after = after;
    }

    /// When [`Self::handle_timeout`] is due: the earliest answer timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.answer_timers.peek().map(|Reverse((at, _))| *at)
    }

    /// The next thing to do, in order; drained after every input.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// MESSAGEs still being handled: forwarded and waiting for a device, or waiting for
    /// their storage or the SMS hook. A server shutting down waits for none to be left.
    pub fn in_progress(&self) -> usize {
        self.jobs.len()
    }

    /// Whether a client transaction is one of our forwards.
    pub fn owns(&self, key: &ClientKey) -> bool {
        self.branches.contains_key(key)
    }

    /// A new, authenticated MESSAGE from `sender` routed to `dest`.
    #[allow(
        clippy::too_many_arguments,
        reason = "the request, its transaction and peer, who sent it and where it goes"
    )]
    pub fn incoming(
        &mut self,
        now: Instant,
        key: ServerKey,
        request: Message,
        from: Peer,
        sender: Sender,
        system: bool,
        dest: Destination,
        devices: &dyn Devices,
        out: &mut dyn Outbox,
    ) {
        let body = request.body().clone();
        if body.len() > MAX_BODY {
            return respond(out, &key, &request, from, 413, None);
        }
        let content_type = request
            .content_type()
            .unwrap_or("text/plain")
            .trim()
            .to_owned();
        let call_id = request.call_id().unwrap_or_default().to_owned();
        let cseq = request.cseq().map_or(0, |c| i64::from(c.seq));
        let Sender {
            login: sender,
            display_name,
        } = sender;
        let text = |recipient: String| Text {
            sender: sender.clone(),
            display_name: display_name.clone(),
            recipient,
            call_id: call_id.clone(),
            cseq,
            content_type: content_type.clone(),
            body: body.clone(),
        };
        match dest {
            Destination::Reject(code) => respond(out, &key, &request, from, code, None),
            Destination::Unroutable => respond(out, &key, &request, from, 404, Some("no route")),
            Destination::Offnet(number) => {
                let job = self.job(Job::Incoming {
                    key,
                    request,
                    from,
                    text: text(number.clone()),
                    outstanding: 0,
                    answered: false,
                    push: false,
                    system,
                    early: false,
                });
                self.actions.push_back(Action::SmsOut {
                    job,
                    text: text(number),
                });
            }
            Destination::Login(login) => {
                let Some(targets) = devices.devices(&login) else {
                    return respond(out, &key, &request, from, 404, Some("no such user"));
                };
                let text = text(login.clone());
                let in_order = self.rounds.contains_key(&login) || !self.clear.contains(&login);
                let job = self.job(Job::Incoming {
                    key,
                    request,
                    from,
                    text: text.clone(),
                    outstanding: 0,
                    answered: false,
                    push: targets.is_empty() && !system,
                    system,
                    early: false,
                });
                if targets.is_empty() || in_order {
                    // nobody to take it, or older messages first: store, then a round
                    self.actions.push_back(Action::Store {
                        job: Some(job),
                        text,
                        status: Status::Deferred,
                    });
                    return;
                }
                let sent = self.forward(job, &text, &targets, out);
                if sent == 0 {
                    self.incoming_failed(job);
                } else {
                    self.answer_timers
                        .push(Reverse((now + self.answer_after, job)));
                }
            }
        }
    }

    /// A final (or provisional, ignored) response to one of our forwards; `408` for a
    /// transaction timeout. Returns false when the key is not ours.
    pub fn response(
        &mut self,
        key: ClientKey,
        status: u16,
        devices: &dyn Devices,
        out: &mut dyn Outbox,
    ) -> bool {
        if !self.branches.contains_key(&key) {
            return false;
        }
        if status < 200 {
            return true;
        }
        let Some(job_id) = self.branches.remove(&key) else {
            return true;
        };
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return true;
        };
        let ok = (200..300).contains(&status);
        match job {
            Job::Incoming {
                key,
                request,
                from,
                text,
                outstanding,
                answered,
                early,
                ..
            } => {
                *outstanding -= 1;
                if ok && !*answered {
                    *answered = true;
                    if !*early {
                        respond(out, key, request, *from, 200, None);
                    }
                    self.actions.push_back(Action::Store {
                        job: None,
                        text: text.clone(),
                        status: Status::Delivered,
                    });
                }
                if *outstanding == 0 {
                    if *answered {
                        self.jobs.remove(&job_id);
                    } else {
                        self.incoming_failed(job_id);
                    }
                }
            }
            Job::Delivery {
                login,
                id,
                attempts,
                outstanding,
                delivered,
            } => {
                *outstanding -= 1;
                let first_ok = ok && !*delivered;
                if first_ok {
                    *delivered = true;
                    self.actions.push_back(Action::MarkDelivered {
                        login: login.clone(),
                        id: *id,
                    });
                }
                if *outstanding == 0 {
                    let (login, id, attempts, delivered) =
                        (login.clone(), *id, *attempts, *delivered);
                    self.jobs.remove(&job_id);
                    if !delivered {
                        tracing::info!(%login, id, status, "stored message not taken by any device");
                        self.delivery_failed(&login, id, attempts, devices, out);
                    }
                }
            }
        }
        true
    }

    /// The answer to [`Action::Store`] with a job: `Ok(inserted)` (`false`: the same message
    /// was stored before), or the database error. `devices` says whether the recipient has
    /// a device now (then a delivery round starts).
    pub fn stored(
        &mut self,
        job: JobId,
        result: Result<bool, String>,
        devices: &dyn Devices,
        out: &mut dyn Outbox,
    ) {
        let Some(Job::Incoming {
            key,
            request,
            from,
            text,
            push,
            early,
            ..
        }) = self.jobs.remove(&job)
        else {
            return;
        };
        match result {
            Ok(inserted) => {
                if !early {
                    respond(out, &key, &request, from, 202, None);
                }
                if inserted {
                    self.clear.remove(&text.recipient);
                    if push {
                        self.actions.push_back(Action::Push { text: text.clone() });
                    }
                }
                if devices.online(&text.recipient) {
                    self.start_round(&text.recipient);
                }
            }
            Err(e) if early => {
                tracing::error!(sender = %text.sender, recipient = %text.recipient, "storing a message accepted with 202 failed; it is lost: {e}");
            }
            Err(e) => {
                tracing::error!(sender = %text.sender, recipient = %text.recipient, "storing a message failed, answering 503: {e}");
                respond(out, &key, &request, from, 503, Some("storage unavailable"));
            }
        }
    }

    /// The answer to [`Action::SmsOut`].
    pub fn sms_done(&mut self, job: JobId, result: Result<(), String>, out: &mut dyn Outbox) {
        let Some(Job::Incoming {
            key,
            request,
            from,
            text,
            ..
        }) = self.jobs.remove(&job)
        else {
            return;
        };
        let status = match result {
            Ok(()) => {
                respond(out, &key, &request, from, 202, None);
                Status::SentOffnet
            }
            Err(e) => {
                tracing::warn!(sender = %text.sender, recipient = %text.recipient, "SMS hook did not take the message: {e}");
                respond(
                    out,
                    &key,
                    &request,
                    from,
                    503,
                    Some("SMS service unavailable"),
                );
                Status::Failed
            }
        };
        self.actions.push_back(Action::Store {
            job: None,
            text,
            status,
        });
    }

    // ----- internals -----------------------------------------------------------------------

    fn job(&mut self, job: Job) -> JobId {
        self.next_job += 1;
        let id = JobId(self.next_job);
        self.jobs.insert(id, job);
        id
    }

    /// Forwarding found nobody: store it (deferred) and push.
    fn incoming_failed(&mut self, job: JobId) {
        if let Some(Job::Incoming {
            text, push, system, ..
        }) = self.jobs.get_mut(&job)
        {
            *push = !*system;
            let text = text.clone();
            self.actions.push_back(Action::Store {
                job: Some(job),
                text,
                status: Status::Deferred,
            });
        }
    }

    /// Sends `text` to every device; returns how many forwards started.
    fn forward(
        &mut self,
        job: JobId,
        text: &Text,
        targets: &[Device],
        out: &mut dyn Outbox,
    ) -> usize {
        let mut sent = 0;
        for d in targets {
            let request = match self.build(text, d) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(contact = %d.contact, "forwarded MESSAGE does not parse: {e}");
                    continue;
                }
            };
            if let Some(k) = out.send_request(request, d.peer) {
                self.branches.insert(k, job);
                sent += 1;
            }
        }
        match self.jobs.get_mut(&job) {
            Some(Job::Incoming { outstanding, .. } | Job::Delivery { outstanding, .. }) => {
                *outstanding = sent;
            }
            None => {}
        }
        sent
    }

    /// A MESSAGE of our own (Via, tags, Call-ID) to one device, with the body and its type.
    fn build(&mut self, text: &Text, d: &Device) -> sip_message::Result<Message> {
        let branch = self.ids.branch();
        let tag = self.ids.tag();
        let call_id = self.ids.call_id();
        let mut b = MessageBuilder::request(&Method::Message, &d.contact);
        b.header(
            "Via",
            format_args!(
                "SIP/2.0/{} {};branch={branch};rport",
                d.peer.transport.via_name(),
                d.peer.local
            ),
        )
        .header("Max-Forwards", 70);
        if let Some(p) = &d.path {
            b.header("Route", p);
        }
        let from_uri = format!("sip:{}@{}", text.sender, self.domain);
        match &text.display_name {
            Some(n) if !n.is_empty() => b.header(
                "From",
                format_args!("\"{}\" <{from_uri}>;tag={tag}", n.replace(['"', '\\'], "")),
            ),
            _ => b.header("From", format_args!("<{from_uri}>;tag={tag}")),
        };
        b.header(
            "To",
            format_args!("<sip:{}@{}>", text.recipient, self.domain),
        )
        .header("Call-ID", call_id)
        .header("CSeq", "1 MESSAGE")
        .header("User-Agent", SERVER);
        b.finish_request_with_body(&text.content_type, &text.body)
    }
}

fn respond(
    out: &mut dyn Outbox,
    key: &ServerKey,
    request: &Message,
    from: Peer,
    code: u16,
    warning: Option<&str>,
) {
    let mut b = MessageBuilder::response_to(
        request,
        code,
        Some(&request.stable_tag()),
        Some(from.remote),
    );
    if code == 503 {
        b.header("Retry-After", 5);
    }
    if let Some(w) = warning {
        b.warning(w);
    }
    b.header("Server", SERVER);
    out.respond(key, b.finish());
}
