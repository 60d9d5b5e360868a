//! Push wake-up, the call's side: parking a call for the callee's devices with push tokens,
//! pushing them (at once, or when they stay silent), the end of the parked phase, late forking
//! to a device that registers, the pick-up with INVITE/Replaces by the woken app, and the
//! ghost INVITE a device gets when it wakes after its call ended. The [`Park`] bookkeeping is
//! in `push.rs`; the table keeps the indexes and the ghosts (`calls/parking.rs`).

use std::time::Instant;

use sip_dialog::Dialog;
use sip_message::{Message, MessageBuilder, Peer};
use sip_transaction::ServerKey;

use super::{
    contact, is_sdp, After, Branch, Call, CallId, CallState, PickUpRefusal, Setup, ALLOW, ELSEWHERE,
};
use crate::push::{Device, DeviceState, Orphan, Park, Replaces};
use crate::route::Target;
use crate::shared::{Shared, TimerKind};
use crate::{CallEvent, Caller, Outbox, PushDevice, PushKind, PushRequest, Side};

impl Call {
    /// A call that only rings a pushed device which registered after the call ended: its
    /// INVITE is CANCELled as soon as it rings ([`Self::ring_ghost`]). Ended from the start,
    /// without a CDR.
    pub(crate) fn ghost(id: CallId, now: Instant, s: Setup) -> Self {
        let mut call = Self::new(id, now, s);
        call.state = CallState::Ended;
        call.cdr_written = true;
        call.ghost = true;
        call
    }

    /// Rings `target` for a ghost call, the CANCEL (with `reason`) waiting for its first
    /// provisional (§9.1). False if the transaction layer refused the INVITE.
    pub(crate) fn ring_ghost(
        &mut self,
        ctx: &mut Shared,
        target: &Target,
        reason: &'static str,
        out: &mut dyn Outbox,
    ) -> bool {
        if !self.start_branch(
            ctx,
            &target.uri,
            target.peer,
            &target.login,
            None,
            None,
            out,
        ) {
            return false;
        }
        if let Some(b) = self.branches.last_mut() {
            b.cancel_wanted = true;
            b.cancel_reason = reason;
        }
        true
    }

    /// Ringing and parked with something pushed.
    pub(crate) fn is_parked(&self) -> bool {
        self.state == CallState::Ringing
            && self.park.as_ref().is_some_and(|p| p.first_push.is_some())
    }

    /// Parks the call for `login`'s devices with push tokens: those without a binding are
    /// pushed at once, the ringing ones when they stay silent for the push delay. The table
    /// indexes the park once the INVITE is handled.
    pub(super) fn park(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        login: String,
        push: Vec<PushDevice>,
        out: &mut dyn Outbox,
    ) {
        let policy = ctx.cfg.push.unwrap_or_default();
        let devices = push
            .into_iter()
            .map(|dev| {
                // a device whose flow could not even take the INVITE counts as asleep
                let ringing = self
                    .branches
                    .iter()
                    .any(|b| b.live() && b.instance.as_deref() == Some(dev.instance.as_str()));
                let at = if ringing { now + policy.delay } else { now };
                Device {
                    dev,
                    state: DeviceState::Waiting(at),
                }
            })
            .collect();
        self.park = Some(Park {
            login,
            call_id: ctx.ids.call_id().into(),
            our_tag: ctx.ids.tag().into(),
            their_tag: ctx.ids.tag().into(),
            devices,
            first_push: None,
            deadline: None,
            woke: None,
            ringing_sent: false,
            orphans: Vec::new(),
        });
        self.push_due(ctx, now, None, out);
    }

    /// Pushes the devices that are due (and `instance` at once); the caller hears ringing
    /// while the call is parked; arms the next push.
    pub(super) fn push_due(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        instance: Option<&str>,
        out: &mut dyn Outbox,
    ) {
        let policy = ctx.cfg.push.unwrap_or_default();
        let Some(park) = self.park.as_mut() else {
            return;
        };
        let due = park.take_due(now, instance);
        let next = park.next_due();
        if !due.is_empty() {
            if park.deadline.is_none() {
                let d = now + policy.timeout;
                park.deadline = Some(d);
                if self.no_answer_at.is_some_and(|a| a < d) {
                    self.no_answer_at = Some(d);
                    ctx.timers.arm(d, self.id, TimerKind::NoAnswer);
                }
            }
            let ring = !park.ringing_sent;
            park.ringing_sent = true;
            tracing::info!(call = self.id, callee = %park.login, devices = due.len(), "call parked: pushing the callee's devices");
            if let Some(ev) = self.push_event(PushKind::IncomingCall, due) {
                ctx.events.push_back(ev);
            }
            if ring && self.state == CallState::Ringing {
                self.ringing.get_or_insert(now);
                let mut rb = MessageBuilder::response_to(
                    &self.a_invite,
                    180,
                    Some(&self.a_tag),
                    Some(self.a_peer.remote),
                );
                rb.header(
                    "Contact",
                    contact(&self.callee_user(), &self.a_peer, self.shard),
                );
                rb.header("Allow", ALLOW);
                out.respond(&self.a_key, rb.finish());
            }
        }
        if let Some(at) = next {
            ctx.timers.arm(at, self.id, TimerKind::PushDue);
        }
    }

    /// The parked phase is over (answered, cancelled, timed out): the pushed devices (but
    /// `except`) get `kind`, and are left as orphans for the table's ghost list (an INVITE
    /// CANCELled with `reason` if they register late).
    pub(super) fn end_park(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        kind: PushKind,
        reason: &'static str,
        except: Option<&str>,
    ) {
        let Some(park) = self.park.as_mut() else {
            return;
        };
        for d in &mut park.devices {
            if matches!(d.state, DeviceState::Waiting(_)) {
                d.state = DeviceState::Spoke;
            }
        }
        let pushed: Vec<PushDevice> = park
            .pushed()
            .into_iter()
            .filter(|d| Some(d.instance.as_str()) != except)
            .collect();
        if pushed.is_empty() {
            return;
        }
        let until = park.deadline.unwrap_or(now).max(now);
        park.orphans.extend(pushed.iter().map(|d| Orphan {
            instance: d.instance.clone(),
            reason,
            until,
        }));
        tracing::info!(
            call = self.id,
            ?kind,
            devices = pushed.len(),
            "parked call over"
        );
        if let Some(ev) = self.push_event(kind, pushed) {
            ctx.events.push_back(ev);
        }
    }

    /// The push hook failed for these devices: when nothing else can answer, the answering
    /// rules apply at once.
    pub(crate) fn handle_push_failed(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        instances: &[String],
        out: &mut dyn Outbox,
    ) -> After {
        if let Some(p) = self.park.as_mut() {
            p.failed(instances);
        }
        self.after_branch_change(ctx, now, out)
    }

    /// `login` registered the binding `target`: a ringing parked call forks to it (late
    /// forking) when it is a pushed device or a device the call never rang.
    pub(crate) fn handle_registered(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        login: &str,
        target: &Target,
        out: &mut dyn Outbox,
    ) {
        if self.state != CallState::Ringing {
            return;
        }
        let inst = target.instance.as_deref();
        let same = |b: &Branch| {
            (inst.is_some() && b.instance.as_deref() == inst)
                || b.invite.request_uri_str() == Some(target.uri.as_str())
        };
        let ringing_it = self.branches.iter().any(|b| b.live() && same(b));
        let ever = self.branches.iter().any(same);
        let pushed = inst.is_some_and(|i| self.park.as_ref().is_some_and(|p| p.was_pushed(i)));
        if ringing_it || (ever && !pushed) {
            return;
        }
        if pushed {
            if let Some(p) = self.park.as_mut() {
                p.wake(now);
            }
        }
        tracing::info!(call = self.id, %login, pushed, "device registered: forking the parked call to it");
        if self.start_branch(ctx, &target.uri, target.peer, login, None, None, out) {
            if let Some(b) = self.branches.last_mut() {
                b.instance.clone_from(&target.instance);
            }
        }
    }

    /// An INVITE (`req`, on server transaction `key`) with `Replaces` (`r`) naming this
    /// parked call: the woken app picks it up, every other device stops ringing. Only the
    /// callee's own login may; `Err` is the answer for the app (403, 481, 488, 400).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn handle_pick_up(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        key: ServerKey,
        req: &Message,
        from: Peer,
        caller: &Caller,
        r: &Replaces<'_>,
        out: &mut dyn Outbox,
    ) -> Result<(), PickUpRefusal> {
        let check = match &self.park {
            None => Err(PickUpRefusal::NoSuchCall),
            Some(p) if caller.trusted || caller.login != p.login => {
                Err(PickUpRefusal::NotTheCallee)
            }
            Some(p)
                if r.to_tag != Some(p.our_tag.as_str())
                    || r.from_tag.is_some_and(|t| t != p.their_tag) =>
            {
                Err(PickUpRefusal::NoSuchCall)
            }
            Some(_) if self.state != CallState::Ringing => Err(PickUpRefusal::CallOver),
            Some(_) => Ok(()),
        };
        if let Err(why) = check {
            tracing::info!(call = self.id, login = %caller.login, status = why.status(), "INVITE/Replaces refused: {why}");
            return check;
        }
        let app_offer = is_sdp(req).then(|| {
            (
                req.content_type().unwrap_or("application/sdp").to_owned(),
                req.body().clone(),
            )
        });
        if self.offer.is_none() && app_offer.is_none() {
            return Err(PickUpRefusal::NoOffer);
        }
        let b_tag = ctx.ids.tag();
        let dialogs = (
            Dialog::from_request(req, &b_tag, from),
            Dialog::from_request(&self.a_invite, &self.a_tag, self.a_peer),
        );
        let (Ok(b_dialog), Ok(a_dialog)) = dialogs else {
            return Err(PickUpRefusal::NoDialog);
        };
        // the app wins: every other device stops ringing
        self.stop_ringing(ctx, ELSEWHERE, out);
        if let Some(p) = self.park.as_mut() {
            p.wake(now);
        }
        let inst = req.contacts().ok().flatten().and_then(|c| match c {
            sip_message::ContactList::Contacts(l) => {
                l.first().and_then(|c| c.instance().map(|i| i.into_owned()))
            }
            sip_message::ContactList::Star => None,
        });
        self.end_park(
            ctx,
            now,
            PushKind::AnsweredElsewhere,
            ELSEWHERE,
            inst.as_deref(),
        );
        self.state = CallState::Answered;
        self.answer = Some(now);
        self.credit_answered(ctx, now);
        self.ringing.get_or_insert(now);
        self.final_code = 200;
        self.no_answer_at = None;
        self.step_at = None;
        self.a_dialog = Some(a_dialog);
        self.b_dialog = Some(b_dialog);
        if let Some(cid) = req.call_id() {
            ctx.by_call_id.insert(cid.to_owned(), (self.id, Side::B));
        }
        self.pickup = Some((key, req.clone(), from));
        ctx.timers.arm_sweep(now);
        tracing::info!(call = self.id, login = %caller.login, "parked call picked up with INVITE/Replaces");
        match (self.offer.clone(), app_offer) {
            (Some((ct, a_offer)), Some((b_ct, b_offer))) => {
                // both offered: each side's offer is the other's answer (one phone app
                // family on both ends; through the relay when it anchors)
                let for_a = ctx
                    .media
                    .answer(self.id, Side::B, &b_offer, self.mode)
                    .unwrap_or(b_offer);
                self.pickup_ok(ctx, now, Side::B, Some((&ct, &a_offer)), out);
                self.pickup_ok(ctx, now, Side::A, Some((&b_ct, &for_a)), out);
            }
            (Some((ct, a_offer)), None) => {
                // late offer from the app: A's offer to it, its answer comes in the ACK
                self.pickup_ok(ctx, now, Side::B, Some((&ct, &a_offer)), out);
                self.pickup_owed = Some(Side::A);
            }
            (None, Some((b_ct, b_offer))) => {
                let for_a = ctx
                    .media
                    .offer(self.id, Side::B, &b_offer, self.mode)
                    .unwrap_or(b_offer);
                self.pickup_ok(ctx, now, Side::A, Some((&b_ct, &for_a)), out);
                self.pickup_owed = Some(Side::B);
            }
            (None, None) => unreachable!("checked above"),
        }
        Ok(())
    }

    /// The 200 for a picked-up call towards `side` (A: the caller's INVITE; B: the app's
    /// INVITE/Replaces), resent until its ACK.
    pub(super) fn pickup_ok(
        &mut self,
        ctx: &mut Shared,
        now: Instant,
        side: Side,
        body: Option<(&str, &[u8])>,
        out: &mut dyn Outbox,
    ) {
        let (key, mut rb, cseq) = match side {
            Side::A => (
                self.a_key,
                MessageBuilder::response_to(
                    &self.a_invite,
                    200,
                    Some(&self.a_tag),
                    Some(self.a_peer.remote),
                ),
                self.a_invite.cseq().map_or(1, |c| c.seq),
            ),
            Side::B => {
                let Some((key, inv, from)) = &self.pickup else {
                    return;
                };
                let tag = self.b_dialog.as_ref().map(|d| d.local_tag.as_str());
                (
                    *key,
                    MessageBuilder::response_to(inv, 200, tag, Some(from.remote)),
                    inv.cseq().map_or(1, |c| c.seq),
                )
            }
        };
        let (user, peer) = match side {
            Side::A => (self.callee_user(), self.a_peer),
            Side::B => (
                self.caller.login.clone(),
                self.pickup.as_ref().map_or(self.a_peer, |p| p.2),
            ),
        };
        rb.header("Contact", contact(&user, &peer, self.shard))
            .header("Allow", ALLOW)
            .server();
        let bytes = match body {
            Some((ct, b)) => rb.finish_with_body(ct, b),
            None => rb.finish(),
        };
        out.respond(&key, bytes.clone());
        self.start_resend(ctx, now, side, bytes, cseq);
    }

    /// The push event of kind `kind` for `devices` of this parked call.
    fn push_event(&self, kind: PushKind, devices: Vec<PushDevice>) -> Option<CallEvent> {
        let park = self.park.as_ref()?;
        Some(CallEvent::Push(PushRequest {
            call: self.id,
            kind,
            caller: self.caller.login.clone(),
            caller_display: self.caller.display_name.clone(),
            callee: park.login.clone(),
            call_id: park.call_id.clone(),
            to_tag: park.our_tag.clone(),
            from_tag: park.their_tag.clone(),
            devices,
        }))
    }
}
