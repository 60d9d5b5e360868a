//! The voicemail scripts on top of an [`Endpoint`]: deposit, greeting recording and playback.
//!
//! ```text
//! Deposit:  greeting ─(#/end)─▶ beep ─▶ record ─(#/silence/max)─▶ Save ─▶ goodbye ─▶ Hangup
//!                                          └─(BYE)─▶ Save
//! Greeting: "record after the tone" ─▶ beep ─▶ record ─▶ replay + "# to keep, * to retry"
//!              ▲                                            │ *            │ #
//!              └────────────────────────────────────────────┘      SaveGreeting ─▶ "saved" ─▶ Hangup
//! Playback: for each message: Load(id) ─▶ play ─ MarkOld(id) ─▶ menu: 1 repeat, 2 next, 3 delete
//!           no message left ─▶ "no more messages" ─▶ Hangup
//! ```
//!
//! The driver runs the [`Endpoint`] through [`Session::endpoint_mut`] for I/O and answers the
//! session's [`Action`]s (store the message, load a message's audio, ...). A deposit shorter than
//! [`Session::MIN_MESSAGE`] is discarded (no `Save`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::endpoint::{Endpoint, EndpointEvent};
use crate::play::Audio;
use crate::record::{RecordLimits, Recording, StopReason};

/// The prompts a session plays.
#[derive(Debug, Clone)]
pub struct Prompts {
    /// "The person you called is not available. Please leave a message after the tone."
    pub standard_greeting: Audio,
    /// The tone before recording.
    pub beep: Audio,
    /// "Thank you. Goodbye."
    pub goodbye: Audio,
    /// "Record your greeting after the tone. Press pound when done."
    pub record_greeting: Audio,
    /// "Press pound to keep this greeting, or star to record it again."
    pub confirm_greeting: Audio,
    /// "Your greeting has been saved."
    pub greeting_saved: Audio,
    /// "Press 1 to repeat, 2 for the next message, 3 to delete."
    pub menu: Audio,
    /// "Message deleted."
    pub deleted: Audio,
    /// "You have no more messages."
    pub no_more: Audio,
}

/// What the session asks of the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Store this deposited message.
    SaveMessage(Recording),
    /// Store this greeting for the caller.
    SaveGreeting(Vec<i16>),
    /// Call [`Session::handle_loaded`] with message `id`'s audio (`None` if it is gone).
    Load(u64),
    /// Message `id` has been heard.
    MarkOld(u64),
    /// The owner deleted message `id`.
    Delete(u64),
    /// End the call (send BYE).
    Hangup,
}

/// Which script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Script {
    /// Leave a message after `greeting` (the owner's own, or the standard one).
    Deposit {
        /// The greeting to play.
        greeting: Audio,
    },
    /// Record the caller's greeting.
    Greeting,
    /// Play these messages (ids) in order, with the menu after each.
    Playback {
        /// Message ids.
        messages: Vec<u64>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Deposit: playing the greeting.
    Greeting,
    /// Playing the beep before recording.
    Beep,
    Recording,
    /// Greeting script: the new greeting and the confirm prompt.
    Confirming,
    /// Playback: waiting for the audio of the current message.
    Loading,
    Playing,
    Menu,
    /// Playback: "message deleted", then the next message.
    Deleted,
    /// Playing a last prompt, then hang up.
    Closing,
    Done,
}

// Clip tags.
const TAG_GREETING: u32 = 1;
const TAG_BEEP: u32 = 2;
const TAG_CLOSING: u32 = 3;
const TAG_MESSAGE: u32 = 4;
const TAG_MENU: u32 = 5;
const TAG_CONFIRM: u32 = 6;
const TAG_DELETED: u32 = 7;

/// One voicemail call.
#[derive(Debug)]
pub struct Session {
    endpoint: Endpoint,
    prompts: Prompts,
    script: Script,
    limits: RecordLimits,
    step: Step,
    /// Playback: index of the current message.
    current: usize,
    marked: Vec<u64>,
    /// Greeting script: the take being confirmed.
    take: Option<Vec<i16>>,
    menu_deadline: Option<Instant>,
    actions: VecDeque<Action>,
}

impl Session {
    /// Shorter deposits are discarded.
    pub const MIN_MESSAGE: Duration = Duration::from_secs(1);
    /// The menu waits this long for a digit.
    pub const MENU_WAIT: Duration = Duration::from_secs(10);

    /// Starts `script` at `now` (the call was just answered).
    pub fn new(
        now: Instant,
        endpoint: Endpoint,
        prompts: Prompts,
        script: Script,
        limits: RecordLimits,
    ) -> Self {
        let mut s = Self {
            endpoint,
            prompts,
            script,
            limits,
            step: Step::Done,
            current: 0,
            marked: Vec::new(),
            take: None,
            menu_deadline: None,
            actions: VecDeque::new(),
        };
        match &s.script {
            Script::Deposit { greeting } => {
                let g = greeting.clone();
                s.step = Step::Greeting;
                s.endpoint.play(now, TAG_GREETING, g);
            }
            Script::Greeting => {
                s.step = Step::Greeting;
                let p = s.prompts.record_greeting.clone();
                s.endpoint.play(now, TAG_GREETING, p);
            }
            Script::Playback { .. } => s.next_message(now),
        }
        s
    }

    /// The endpoint, for the driver's datagram and transmit loop.
    pub fn endpoint_mut(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    /// Whether the script has ended (after `Hangup` or the caller's BYE).
    pub fn is_done(&self) -> bool {
        self.step == Step::Done
    }

    /// One received datagram (errors are not RTP; count them).
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) -> bool {
        let ok = self.endpoint.handle_datagram(now, datagram).is_ok();
        self.drive(now);
        ok
    }

    /// Deadlines passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        if self.menu_deadline.is_some_and(|d| d <= now) && self.step == Step::Menu {
            self.menu_deadline = None;
            self.close(now, None);
        }
        self.drive(now);
    }

    /// The caller hung up.
    pub fn handle_hangup(&mut self, now: Instant) {
        self.endpoint.handle_hangup();
        self.drive(now);
        if self.step == Step::Recording && matches!(self.script, Script::Deposit { .. }) {
            self.finish_deposit();
        }
        self.step = Step::Done;
    }

    /// The audio of a message asked for with [`Action::Load`].
    pub fn handle_loaded(&mut self, now: Instant, id: u64, audio: Option<Audio>) {
        if self.step != Step::Loading || self.current_id() != Some(id) {
            return;
        }
        match audio {
            Some(a) => {
                self.step = Step::Playing;
                self.endpoint.play(now, TAG_MESSAGE, a);
                if !self.marked.contains(&id) {
                    self.marked.push(id);
                    self.actions.push_back(Action::MarkOld(id));
                }
            }
            None => {
                self.current += 1;
                self.next_message(now);
            }
        }
    }

    /// The next thing the driver must do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next RTP packet due.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<&[u8]> {
        self.endpoint.poll_transmit(now)
    }

    /// After transmitting: clips that finished move the script on.
    pub fn after_transmit(&mut self, now: Instant) {
        self.drive(now);
    }

    /// The earliest deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.endpoint.poll_timeout(), self.menu_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    fn current_id(&self) -> Option<u64> {
        match &self.script {
            Script::Playback { messages } => messages.get(self.current).copied(),
            _ => None,
        }
    }

    fn next_message(&mut self, now: Instant) {
        match self.current_id() {
            Some(id) => {
                self.step = Step::Loading;
                self.actions.push_back(Action::Load(id));
            }
            None => {
                let p = self.prompts.no_more.clone();
                self.close(now, Some(p));
            }
        }
    }

    fn close(&mut self, now: Instant, prompt: Option<Audio>) {
        self.endpoint.stop_playing();
        match prompt {
            Some(p) => {
                self.step = Step::Closing;
                self.endpoint.play(now, TAG_CLOSING, p);
            }
            None => self.hang_up(),
        }
    }

    fn hang_up(&mut self) {
        self.step = Step::Done;
        self.actions.push_back(Action::Hangup);
    }

    fn start_beep(&mut self, now: Instant) {
        self.endpoint.stop_playing();
        self.step = Step::Beep;
        let b = self.prompts.beep.clone();
        self.endpoint.play(now, TAG_BEEP, b);
    }

    fn finish_deposit(&mut self) {
        if let Some(rec) = self.endpoint.take_recording() {
            if rec.duration() >= Self::MIN_MESSAGE {
                self.actions.push_back(Action::SaveMessage(rec));
            }
        }
    }

    fn drive(&mut self, now: Instant) {
        while let Some(ev) = self.endpoint.poll_event() {
            self.on_event(now, ev);
        }
    }

    fn on_event(&mut self, now: Instant, ev: EndpointEvent) {
        let deposit = matches!(self.script, Script::Deposit { .. });
        match (self.step, ev) {
            (Step::Greeting, EndpointEvent::PlayDone(TAG_GREETING)) => self.start_beep(now),
            (Step::Greeting, EndpointEvent::Digit(d)) if d.digit == '#' => self.start_beep(now),
            (Step::Beep, EndpointEvent::PlayDone(TAG_BEEP)) => {
                self.step = Step::Recording;
                let mut limits = self.limits.clone();
                if !deposit {
                    limits.max_length = limits.max_length.min(Duration::from_secs(60));
                }
                self.endpoint.start_recording(now, limits);
            }
            (Step::Recording, EndpointEvent::RecordStopped(reason)) => {
                if deposit {
                    self.finish_deposit();
                    let p = self.prompts.goodbye.clone();
                    if reason == StopReason::Hangup {
                        self.step = Step::Done;
                    } else {
                        self.close(now, Some(p));
                    }
                } else {
                    let take = self
                        .endpoint
                        .take_recording()
                        .map(|r| r.samples)
                        .unwrap_or_default();
                    self.step = Step::Confirming;
                    self.endpoint.play(now, TAG_MESSAGE, take.clone().into());
                    let c = self.prompts.confirm_greeting.clone();
                    self.endpoint.play(now, TAG_CONFIRM, c);
                    self.take = Some(take);
                }
            }
            (Step::Confirming, EndpointEvent::Digit(d)) if d.digit == '#' => {
                if let Some(take) = self.take.take() {
                    self.actions.push_back(Action::SaveGreeting(take));
                }
                let p = self.prompts.greeting_saved.clone();
                self.close(now, Some(p));
            }
            (Step::Confirming, EndpointEvent::Digit(d)) if d.digit == '*' => {
                self.take = None;
                self.endpoint.stop_playing();
                self.step = Step::Greeting;
                let p = self.prompts.record_greeting.clone();
                self.endpoint.play(now, TAG_GREETING, p);
            }
            (Step::Deleted, EndpointEvent::PlayDone(TAG_DELETED)) => self.next_message(now),
            (Step::Playing, EndpointEvent::PlayDone(TAG_MESSAGE)) => {
                self.step = Step::Menu;
                let m = self.prompts.menu.clone();
                self.endpoint.play(now, TAG_MENU, m);
                self.menu_deadline = None;
            }
            (Step::Menu, EndpointEvent::PlayDone(TAG_MENU)) => {
                self.menu_deadline = Some(now + Self::MENU_WAIT);
            }
            (Step::Playing | Step::Menu, EndpointEvent::Digit(d)) => {
                self.menu_deadline = None;
                self.endpoint.stop_playing();
                match d.digit {
                    '1' => {
                        self.step = Step::Loading;
                        if let Some(id) = self.current_id() {
                            self.actions.push_back(Action::Load(id));
                        }
                    }
                    '3' => {
                        if let Some(id) = self.current_id() {
                            self.actions.push_back(Action::Delete(id));
                        }
                        self.current += 1;
                        let p = self.prompts.deleted.clone();
                        self.step = Step::Deleted;
                        self.endpoint.play(now, TAG_DELETED, p);
                    }
                    _ => {
                        self.current += 1;
                        self.next_message(now);
                    }
                }
            }
            (Step::Closing, EndpointEvent::PlayDone(TAG_CLOSING)) => self.hang_up(),
            _ => {}
        }
    }
}
