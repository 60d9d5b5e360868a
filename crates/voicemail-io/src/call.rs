//! One voicemail call: its setup (store reads, the RTP socket, the answer) and the task that
//! runs the [`Session`] over the RTP socket and carries out its actions on files and rows.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sip_message::Message;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use voicemail::offer::{self, Offer};
use voicemail::session::{Action, Script};
use voicemail::{Endpoint, EndpointConfig, Recording, Session};

use crate::sip::{response, Event, Request};
use crate::{MailboxChange, Shared};

/// From the SIP loop to a call task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctl {
    /// The caller hung up (BYE).
    Hangup,
}

pub(crate) struct CallSetup {
    pub(crate) call_id: String,
    pub(crate) request: Request,
    pub(crate) caller_id: String,
    pub(crate) display_name: String,
    pub(crate) invite: Message,
    pub(crate) to_tag: String,
    pub(crate) local: SocketAddr,
}

pub(crate) fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn load_wav(path: &str) -> Option<voicemail::Audio> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| tracing::warn!(path, "voicemail file unreadable: {e}"))
        .ok()?;
    voicemail::wav::read(&bytes)
        .map_err(|e| tracing::warn!(path, "voicemail file: {e}"))
        .ok()
        .map(Into::into)
}

/// Decides the script, binds the RTP socket, answers, and runs the call.
pub(crate) async fn setup(shared: Arc<Shared>, s: CallSetup, events: mpsc::UnboundedSender<Event>) {
    let reject = |code: u16, reason: &str| Event::Final {
        call_id: s.call_id.clone(),
        response: response(&s.invite, code, reason, &s.to_tag, "", ""),
        ok: false,
        ctl: None,
    };
    let sdp = String::from_utf8_lossy(s.invite.body()).into_owned();
    let offer = match offer::parse_offer(&sdp) {
        Ok(o) => o,
        Err(e) => {
            tracing::info!(call_id = %s.call_id, "voicemail: {e}");
            let _ = events.send(reject(488, "Not Acceptable Here"));
            return;
        }
    };
    let store = &shared.store;
    let (script, mailbox) = match &s.request {
        Request::Deposit { mailbox } => {
            let user = store.voicemail_user(mailbox).await.ok().flatten();
            if user.as_ref().is_some_and(|u| !u.enabled) {
                let _ = events.send(reject(480, "Voicemail Disabled"));
                return;
            }
            let own = match user.and_then(|u| u.greeting_path) {
                Some(p) => load_wav(&p).await,
                None => None,
            };
            let greeting = own.unwrap_or_else(|| shared.settings.prompts.standard_greeting.clone());
            (Script::Deposit { greeting }, mailbox.clone())
        }
        Request::Greeting { owner } => (Script::Greeting, owner.clone()),
        Request::Playback { owner, message } => {
            let ids = match message {
                Some(id) => match store.voice_message(*id).await {
                    Ok(Some(m)) if m.login == *owner => vec![m.id as u64],
                    Ok(Some(m)) => {
                        tracing::warn!(caller = %owner, mailbox = %m.login, id, "voicemail: not the owner");
                        let _ = events.send(reject(403, "Forbidden"));
                        return;
                    }
                    Ok(None) => {
                        let _ = events.send(reject(404, "No Such Message"));
                        return;
                    }
                    Err(e) => {
                        tracing::error!("voicemail: {e}");
                        let _ = events.send(reject(500, "Server Internal Error"));
                        return;
                    }
                },
                None => match store.voice_messages(owner).await {
                    Ok(v) => v.iter().map(|m| m.id as u64).collect(),
                    Err(e) => {
                        tracing::error!("voicemail: {e}");
                        let _ = events.send(reject(500, "Server Internal Error"));
                        return;
                    }
                },
            };
            (Script::Playback { messages: ids }, owner.clone())
        }
    };
    let rtp = match UdpSocket::bind(SocketAddr::new(shared.settings.rtp_ip, 0)).await {
        Ok(sock) => sock,
        Err(e) => {
            tracing::error!("voicemail RTP socket: {e}");
            let _ = events.send(reject(503, "Service Unavailable"));
            return;
        }
    };
    let local_rtp = rtp
        .local_addr()
        .unwrap_or(SocketAddr::new(shared.settings.rtp_ip, 0));
    let answer = offer::answer(&offer, local_rtp, rand::random::<u32>().into());
    let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
    let ok = response(
        &s.invite,
        200,
        "OK",
        &s.to_tag,
        &format!(
            "Contact: <sip:voicemail@{}>\r\nContent-Type: application/sdp\r\n",
            s.local
        ),
        &answer,
    );
    let _ = events.send(Event::Final {
        call_id: s.call_id.clone(),
        response: ok,
        ok: true,
        ctl: Some(ctl_tx),
    });
    tracing::info!(call_id = %s.call_id, %mailbox, request = ?s.request, codec = offer.codec.name(), "voicemail call answered");
    let call = Call {
        shared: shared.clone(),
        mailbox,
        caller_id: s.caller_id,
        display_name: s.display_name,
        call_id: s.call_id,
    };
    call.run(rtp, offer, script, ctl_rx, events).await;
}

struct Call {
    shared: Arc<Shared>,
    mailbox: String,
    caller_id: String,
    display_name: String,
    call_id: String,
}

impl Call {
    async fn run(
        self,
        rtp: UdpSocket,
        offer: Offer,
        script: Script,
        mut ctl: mpsc::UnboundedReceiver<Ctl>,
        events: mpsc::UnboundedSender<Event>,
    ) {
        let now = Instant::now();
        let endpoint = Endpoint::new(
            now,
            EndpointConfig {
                codec: offer.codec,
                telephone_event: offer.telephone_event,
                ssrc: rand::random(),
                first_seq: rand::random(),
                first_ts: rand::random(),
            },
        );
        let mut session = Session::new(
            now,
            endpoint,
            self.shared.settings.prompts.clone(),
            script,
            self.shared.settings.limits.clone(),
        );
        let mut remote = offer.remote;
        let mut buf = vec![0u8; 2048];
        let mut bad = 0u64;
        loop {
            let now = Instant::now();
            while let Some(p) = session.poll_transmit(now) {
                if let Err(e) = rtp.send_to(p, remote).await {
                    tracing::debug!(%remote, "voicemail RTP send: {e}");
                }
            }
            session.after_transmit(now);
            if self.actions(&mut session).await {
                let _ = events.send(Event::Hangup {
                    call_id: self.call_id.clone(),
                });
                break;
            }
            if session.poll_timeout().is_none() && session.is_done() {
                break;
            }
            let deadline = session.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                r = rtp.recv_from(&mut buf) => match r {
                    Ok((n, from)) => {
                        // Symmetric RTP: answer where the caller sends from.
                        remote = from;
                        if !session.handle_datagram(Instant::now(), &buf[..n]) {
                            bad += 1;
                        }
                    }
                    Err(e) => tracing::debug!("voicemail RTP recv: {e}"),
                },
                _ = sleep_until(deadline) => session.handle_timeout(Instant::now()),
                c = ctl.recv() => {
                    let _ = c;
                    // Packets that arrived before the BYE still belong to the message.
                    while let Ok((n, _)) = rtp.try_recv_from(&mut buf) {
                        session.handle_datagram(Instant::now(), &buf[..n]);
                    }
                    session.handle_hangup(Instant::now());
                    self.actions(&mut session).await;
                    break;
                }
            }
        }
        let stats = session.endpoint_mut().stats();
        tracing::info!(call_id = %self.call_id, audio_in = stats.audio_in, events_in = stats.events_in, not_rtp = bad, "voicemail call ended");
    }

    /// Carries out the session's actions; true when it asks to hang up.
    async fn actions(&self, session: &mut Session) -> bool {
        let mut hangup = false;
        while let Some(a) = session.poll_action() {
            match a {
                Action::SaveMessage(rec) => self.save_message(rec).await,
                Action::SaveGreeting(samples) => self.save_greeting(&samples).await,
                Action::Load(id) => {
                    let audio = match self.shared.store.voice_message(id as i64).await {
                        Ok(Some(m)) if m.login == self.mailbox => load_wav(&m.file_path).await,
                        _ => None,
                    };
                    session.handle_loaded(Instant::now(), id, audio);
                }
                Action::MarkOld(id) => {
                    let r = self.shared.store.mark_voice_message_old(id as i64).await;
                    self.changed(r, None);
                }
                Action::Delete(id) => {
                    if let Ok(Some(m)) = self.shared.store.voice_message(id as i64).await {
                        let r = self.shared.store.delete_voice_message(id as i64).await;
                        if r.is_ok() {
                            let _ = tokio::fs::remove_file(&m.file_path).await;
                        }
                        self.changed(r, None);
                    }
                }
                Action::Hangup => hangup = true,
            }
        }
        hangup
    }

    fn changed(
        &self,
        r: Result<Option<(String, store::VoicemailCounts)>, store::StoreError>,
        deposited: Option<store::VoiceMessage>,
    ) {
        match r {
            Ok(Some((login, counts))) => {
                let _ = self.shared.changes.send(MailboxChange {
                    login,
                    counts,
                    deposited,
                });
            }
            Ok(None) => {}
            Err(e) => tracing::error!(mailbox = %self.mailbox, "voicemail store: {e}"),
        }
    }

    fn mailbox_dir(&self) -> PathBuf {
        // Logins are checked by the store (length, no control characters); a path separator
        // would still escape the directory, so it is replaced.
        self.shared
            .settings
            .dir
            .join(self.mailbox.replace(['/', '\\'], "_").replace("..", "_"))
    }

    async fn save_message(&self, rec: Recording) {
        let dir = self.mailbox_dir();
        let created_ms = unix_ms();
        let path = dir.join(format!("{created_ms}-{:08x}.wav", rand::random::<u32>()));
        let wav = voicemail::wav::write_pcm16(&rec.samples);
        if let Err(e) = write_file(&dir, &path, &wav).await {
            tracing::error!(path = %path.display(), "voicemail message not written: {e}");
            return;
        }
        let email = self
            .shared
            .store
            .voicemail_user(&self.mailbox)
            .await
            .ok()
            .flatten()
            .and_then(|u| u.email);
        let new = store::NewVoiceMessage {
            login: self.mailbox.clone(),
            caller_id: self.caller_id.clone(),
            display_name: self.display_name.clone(),
            created_ms,
            duration_ms: rec.duration().as_millis() as i64,
            file_path: path.display().to_string(),
            mail_status: if email.is_some() { "pending" } else { "none" }.to_owned(),
        };
        match self.shared.store.insert_voice_message(&new).await {
            Ok((id, counts)) => {
                tracing::info!(mailbox = %self.mailbox, id, duration_ms = new.duration_ms, reason = ?rec.reason, late = rec.late, "voicemail message stored");
                let msg = store::VoiceMessage {
                    id,
                    login: new.login,
                    caller_id: new.caller_id,
                    display_name: new.display_name,
                    created_ms,
                    duration_ms: new.duration_ms,
                    new: true,
                    file_path: new.file_path,
                    mail_status: new.mail_status,
                };
                if let (Some(mailer), true) = (&self.shared.settings.mailer, email.is_some()) {
                    mailer.wake();
                }
                self.changed(Ok(Some((self.mailbox.clone(), counts))), Some(msg));
            }
            Err(e) => {
                tracing::error!(mailbox = %self.mailbox, "voicemail message row not stored (file kept at {}): {e}", path.display())
            }
        }
    }

    async fn save_greeting(&self, samples: &[i16]) {
        let dir = self.mailbox_dir();
        let path = dir.join("greeting.wav");
        if let Err(e) = write_file(&dir, &path, &voicemail::wav::write_pcm16(samples)).await {
            tracing::error!(path = %path.display(), "greeting not written: {e}");
            return;
        }
        if let Err(e) = self
            .shared
            .store
            .set_voicemail_greeting(&self.mailbox, &path.display().to_string())
            .await
        {
            tracing::error!(mailbox = %self.mailbox, "greeting not recorded in the store: {e}");
        }
    }
}

async fn write_file(
    dir: &std::path::Path,
    path: &std::path::Path,
    bytes: &[u8],
) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    // Written aside then renamed: a reader never sees half a file.
    let tmp = path.with_extension("tmp");
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
