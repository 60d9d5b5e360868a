//! The WebRTC gateway inside the relay: the bridged calls' [`Gateway`]s, their ports, and the
//! glue between the relay thread / [`RelayHandle`] and the sans-IO gateway core (`webrtc-gw`).
//!
//! A call is bridged when its first offer has the WebRTC profile and the side it goes to is not
//! known to be WebRTC ([`webrtc_gw::decide`]). Its two relay ports (one facing each side) are
//! then the gateway's: datagrams arriving there go to the gateway, not to the relay table, and
//! what the gateway returns is sent from the port facing the leg it names. The table still owns
//! the ports and the session (allocation, inactivity timer, `end`).
//!
//! ```text
//!  offer  (WebRTC, side W) ─▶ Gateway::accept_offer ─▶ plain RTP/AVP offer to the other side
//!  answer (plain, side P)  ─▶ Gateway::set_plain    ─▶ the str0m answer to W (ICE-lite, DTLS)
//!  datagram on W's port ─▶ handle_browser ┐
//!  datagram on P's port ─▶ handle_plain   ┴▶ poll_transmit ─▶ send_to from W's / P's socket
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use media::relay::{CallStats, Side};
use media::sdp::Sdp;
use mio::net::UdpSocket;
use webrtc_gw::{Bridge, Gateway, GatewayConfig, GatewayStats, Leg};

use super::{bind, side_idx, Core, RelayHandle};
use crate::batch::for_family;
use crate::MediaError;

/// Longest delay before a gateway's timer is looked at (str0m's timers are ICE consent,
/// DTLS retransmits and RTCP reports: tens of ms and more).
const TIMER_GRANULARITY: Duration = Duration::from_millis(5);

#[derive(Default)]
pub(super) struct Gateways {
    config: Option<GatewayConfig>,
    calls: HashMap<String, GwCall>,
    ports: HashMap<u16, (String, Leg)>,
    next_check: Option<Instant>,
}

struct GwCall {
    gw: Gateway,
    browser: Side,
    browser_port: u16,
    plain_port: u16,
    /// The last SDP sent to the plain side (our offer, or our answer to its offer), repeated
    /// when the browser answers a re-offer.
    plain_offer: String,
}

impl Gateways {
    /// Whether `port` is a gateway's (the relay thread's per-datagram test).
    pub(super) fn owns(&self, port: u16) -> bool {
        !self.ports.is_empty() && self.ports.contains_key(&port)
    }

    pub(super) fn contains(&self, call: &str) -> bool {
        self.calls.contains_key(call)
    }

    /// When the relay thread should next call [`timers`].
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.next_check
    }

    fn config(&mut self) -> Result<GatewayConfig, MediaError> {
        if let Some(c) = &self.config {
            return Ok(c.clone());
        }
        let c = GatewayConfig::new()?;
        self.config = Some(c.clone());
        Ok(c)
    }

    fn wake_at(&mut self, t: Instant, now: Instant) {
        let t = t.max(now);
        self.next_check = Some(self.next_check.map_or(t, |n| n.min(t)));
    }

    /// Gives the gateway of `from` the name `to` (a fork's alternative offer won, see
    /// `fork.rs`).
    pub(super) fn rename(&mut self, from: &str, to: &str) {
        let Some(g) = self.calls.remove(from) else {
            return;
        };
        for p in [g.browser_port, g.plain_port, g.plain_port + 1] {
            if let Some(owner) = self.ports.get_mut(&p) {
                to.clone_into(&mut owner.0);
            }
        }
        self.calls.insert(to.to_owned(), g);
    }

    /// Removes the call's gateway (the call ended) and returns its counters as
    /// (browser side, stats).
    pub(super) fn remove(&mut self, call: &str) -> Option<(Side, GatewayStats)> {
        let mut g = self.calls.remove(call)?;
        self.ports.remove(&g.browser_port);
        self.ports.remove(&g.plain_port);
        self.ports.remove(&(g.plain_port + 1));
        g.gw.close();
        Some((g.browser, g.gw.stats()))
    }
}

/// The gateway's counters in the CDR's terms (A/B), over the relay table's (empty) ones.
pub(super) fn merge_stats(stats: &mut CallStats, browser: Side, g: GatewayStats) {
    let (from_browser, from_plain) = match browser {
        Side::A => (&mut stats.a_to_b, &mut stats.b_to_a),
        Side::B => (&mut stats.b_to_a, &mut stats.a_to_b),
    };
    from_browser.packets += g.browser_to_plain;
    from_browser.rtp_packets += g.browser_to_plain;
    from_browser.bytes += g.browser_to_plain_bytes;
    from_plain.packets += g.plain_to_browser;
    from_plain.rtp_packets += g.plain_to_browser;
    from_plain.bytes += g.plain_to_browser_bytes;
    from_plain.rtcp_packets += g.plain_rtcp_received;
}

/// Sends what the gateway has queued; returns (datagrams sent, bytes).
fn flush(
    g: &mut GwCall,
    sockets: &[Option<UdpSocket>],
    first_port: u16,
    socket_is_v6: bool,
) -> (u64, u64) {
    let (mut n, mut bytes) = (0, 0);
    while let Some(d) = g.gw.poll_transmit() {
        let port = match d.leg {
            Leg::Browser => g.browser_port,
            Leg::Plain => g.plain_port,
            Leg::PlainRtcp => g.plain_port + 1,
        };
        let Some(to) = for_family(d.to, socket_is_v6) else {
            continue;
        };
        let Some(s) = sockets
            .get(usize::from(port - first_port))
            .and_then(|s| s.as_ref())
        else {
            continue;
        };
        match s.send_to(&d.data, to) {
            Ok(_) => {
                n += 1;
                bytes += d.data.len() as u64;
            }
            Err(e) => tracing::trace!(port, %to, error = %e, "gateway send failed"),
        }
    }
    (n, bytes)
}

/// A datagram arrived on gateway port `port` (see [`Gateways::owns`]). Returns (sent, bytes).
pub(super) fn packet(
    core: &mut Core,
    now: Instant,
    port: u16,
    source: SocketAddr,
    data: &[u8],
    socket_is_v6: bool,
) -> (u64, u64) {
    let gws = &mut core.gateways;
    let Some((call, leg)) = gws.ports.get(&port) else {
        return (0, 0);
    };
    let Some(g) = gws.calls.get_mut(call) else {
        return (0, 0);
    };
    match leg {
        Leg::Browser => g.gw.handle_browser(now, source, data),
        Leg::Plain => g.gw.handle_plain(now, source, data),
        Leg::PlainRtcp => g.gw.handle_plain_rtcp(now, source, data),
    }
    core.table.note_activity(now, call);
    let sent = flush(g, &core.sockets, core.first_port, socket_is_v6);
    let t = g.gw.poll_timeout();
    gws.wake_at(t, now);
    sent
}

/// Runs the gateways' timers that are due.
pub(super) fn timers(core: &mut Core, now: Instant, socket_is_v6: bool) {
    let gws = &mut core.gateways;
    if gws.next_check.is_none_or(|t| t > now) {
        return;
    }
    let mut next: Option<Instant> = None;
    for g in gws.calls.values_mut() {
        if g.gw.poll_timeout() <= now {
            g.gw.handle_timeout(now);
            flush(g, &core.sockets, core.first_port, socket_is_v6);
        }
        let t = g.gw.poll_timeout();
        next = Some(next.map_or(t, |n| n.min(t)));
    }
    gws.next_check = next.map(|t| t.max(now + TIMER_GRANULARITY));
}

/// Binds the RTP socket of a new port facing `side`, and with `rtcp` the next port's (the plain
/// side's RTCP, which the gateway terminates; the browser muxes).
fn allocate(
    core: &mut Core,
    now: Instant,
    call: &str,
    (side, rtcp): (Side, bool),
    ip: IpAddr,
) -> Result<u16, MediaError> {
    let mut bound = None;
    let port = core.table.allocate_with(now, call, side, 0, |p| {
        let Ok(rtp) = bind(ip, p) else {
            return false;
        };
        let rtcp = match rtcp.then(|| bind(ip, p + 1)) {
            Some(Err(_)) => return false,
            r => r.and_then(Result::ok),
        };
        bound = Some((rtp, rtcp));
        true
    })?;
    if let Some((rtp, rtcp)) = bound {
        core.add_socket(port, rtp);
        if let Some(s) = rtcp {
            core.add_socket(port + 1, s);
        }
    }
    Ok(port)
}

impl RelayHandle {
    /// Tells whether `side` of `call` is a WebRTC endpoint (a browser registered over
    /// WebSocket): `true` keeps a WebRTC offer going to it WebRTC (relayed as before), unknown
    /// or `false` makes a WebRTC offer going to it bridged to plain RTP. Told before the offer.
    pub fn set_peer_webrtc(&self, call: &str, side: Side, webrtc: bool) {
        let mut core = self.inner.shared.lock();
        core.calls.entry(call.to_owned()).or_default().webrtc[side_idx(side)] = Some(webrtc);
    }

    /// Whether `call` is bridged by the WebRTC gateway.
    pub fn is_bridged(&self, call: &str) -> bool {
        self.inner.shared.lock().gateways.contains(call)
    }

    /// Whether the SDP of `call` must reach the relay even where nothing else needs it (an ONNET
    /// SDP without ICE candidates): the call is bridged, or a side of it is known to be WebRTC.
    pub fn gateway_wants_sdp(&self, call: &str) -> bool {
        let core = self.inner.shared.lock();
        core.gateways.contains(call)
            || core
                .calls
                .get(call)
                .is_some_and(|s| s.webrtc.contains(&Some(true)))
    }

    /// Whether the gateway of `call` completed ICE and DTLS with the browser.
    pub fn bridge_connected(&self, call: &str) -> Option<bool> {
        let core = self.inner.shared.lock();
        core.gateways.calls.get(call).map(|g| g.gw.is_connected())
    }

    /// The relay address for `side` without recording anything.
    fn ip_for(&self, call: &str, side: Side) -> IpAddr {
        let v4 = self.inner.public_ip;
        let Some(v6) = self.inner.public_ip_v6 else {
            return v4;
        };
        let core = self.inner.shared.lock();
        let v6_side = core
            .calls
            .get(call)
            .and_then(|s| s.v6[side_idx(side)])
            .unwrap_or(false);
        if v6_side {
            v6
        } else {
            v4
        }
    }

    /// The gateway's part of [`RelayHandle::offer`] / [`RelayHandle::answer`]: `None` when the
    /// call is not (and does not become) a bridged call.
    pub(super) fn gateway_sdp(
        &self,
        call: &str,
        from: Side,
        raw: &[u8],
        parsed: &Sdp,
        offer: bool,
    ) -> Option<Result<Bytes, MediaError>> {
        let now = Instant::now();
        let to = from.other();
        let (ip_from, ip_to) = (self.ip_for(call, from), self.ip_for(call, to));
        let mut guard = self.inner.shared.lock();
        let core = &mut *guard;
        if let Some(g) = core.gateways.calls.get_mut(call) {
            if from == g.browser {
                let text = match std::str::from_utf8(raw) {
                    Ok(t) => t,
                    Err(_) => return Some(Err(MediaError::Gateway("SDP is not UTF-8".into()))),
                };
                if !offer && g.gw.awaits_browser_answer() {
                    // the browser answered our WebRTC offer: the plain side gets its answer
                    if let Err(e) = g.gw.accept_browser_answer(text) {
                        return Some(Err(e.into()));
                    }
                    g.plain_offer = g.gw.plain_answer(ip_to, g.plain_port);
                    return Some(Ok(Bytes::from(g.plain_offer.clone())));
                }
                if !offer {
                    // the browser answered a re-offer of the plain side: nothing changes for it
                    return Some(Ok(Bytes::from(g.plain_offer.clone())));
                }
                if let Err(e) = g.gw.accept_reoffer(text) {
                    return Some(Err(e.into()));
                }
                g.plain_offer = g.gw.plain_offer(ip_to, g.plain_port);
                return Some(Ok(Bytes::from(g.plain_offer.clone())));
            }
            if offer {
                // the plain side's re-offer: hold or resume makes a new WebRTC offer with its
                // direction; anything else (a session refresh) gives the browser our current
                // description again (same ICE credentials, fingerprint and codecs)
                return Some(match g.gw.plain_reoffer(parsed) {
                    Ok(Some(o)) => Ok(Bytes::from(o)),
                    Ok(None) => Ok(Bytes::from(g.gw.browser_answer().to_owned())),
                    Err(e) => Err(e.into()),
                });
            }
            // the plain side's answer
            return Some(match g.gw.set_plain(parsed) {
                Ok(()) => Ok(Bytes::from(g.gw.browser_answer().to_owned())),
                Err(e) => Err(e.into()),
            });
        }
        if !offer || core.table.contains(call) {
            return None;
        }
        let to_webrtc = core.calls.get(call).and_then(|s| s.webrtc[side_idx(to)]);
        let bind_ip = self.inner.bind_ip;
        match webrtc_gw::decide(webrtc_gw::is_webrtc(parsed), to_webrtc) {
            Bridge::Relay => None,
            Bridge::WebRtcOfferer => {
                let text = match std::str::from_utf8(raw) {
                    Ok(t) => t,
                    Err(_) => return Some(Err(MediaError::Gateway("SDP is not UTF-8".into()))),
                };
                let offer = Offer::FromBrowser(text);
                Some(new_bridge(
                    core, bind_ip, now, call, from, offer, ip_from, ip_to,
                ))
            }
            Bridge::WebRtcAnswerer => {
                let offer = Offer::FromPlain(parsed);
                Some(new_bridge(
                    core, bind_ip, now, call, to, offer, ip_to, ip_from,
                ))
            }
        }
    }
}

/// The offer that starts a bridged call.
enum Offer<'a> {
    /// WebRTC from the browser: the plain side gets a plain offer.
    FromBrowser(&'a str),
    /// Plain, to a WebRTC callee: the browser gets a WebRTC offer.
    FromPlain(&'a Sdp),
}

/// Creates the gateway of `call` whose WebRTC endpoint is on side `browser`; returns the SDP
/// to forward (to the plain side, or to the browser).
#[allow(clippy::too_many_arguments)]
fn new_bridge(
    core: &mut Core,
    bind_ip: IpAddr,
    now: Instant,
    call: &str,
    browser: Side,
    offer: Offer<'_>,
    ip_browser: IpAddr,
    ip_plain: IpAddr,
) -> Result<Bytes, MediaError> {
    let config = core.gateways.config()?;
    let result = (|| {
        let browser_port = allocate(core, now, call, (browser, false), bind_ip)?;
        let plain_port = allocate(core, now, call, (browser.other(), true), bind_ip)?;
        let local = SocketAddr::new(ip_browser, browser_port);
        let (gw, plain_offer) = match offer {
            Offer::FromBrowser(text) => {
                let mut gw = Gateway::accept_offer(now, &config, text, local)?;
                let plain_offer = gw.plain_offer(ip_plain, plain_port);
                (gw, plain_offer)
            }
            Offer::FromPlain(sdp) => (
                Gateway::offer_to_browser(now, &config, sdp, local)?,
                String::new(),
            ),
        };
        Ok::<_, MediaError>(GwCall {
            gw,
            browser,
            browser_port,
            plain_port,
            plain_offer,
        })
    })();
    match result {
        Ok(g) => {
            tracing::info!(
                call,
                browser_port = g.browser_port,
                plain_port = g.plain_port,
                codec = ?g.gw.browser_codec(),
                "WebRTC call bridged to plain RTP"
            );
            let gws = &mut core.gateways;
            gws.ports
                .insert(g.browser_port, (call.to_owned(), Leg::Browser));
            gws.ports
                .insert(g.plain_port, (call.to_owned(), Leg::Plain));
            gws.ports
                .insert(g.plain_port + 1, (call.to_owned(), Leg::PlainRtcp));
            let t = g.gw.poll_timeout();
            let out = if g.gw.awaits_browser_answer() {
                Bytes::from(g.gw.browser_answer().to_owned())
            } else {
                Bytes::from(g.plain_offer.clone())
            };
            gws.calls.insert(call.to_owned(), g);
            gws.wake_at(t, now);
            Ok(out)
        }
        Err(e) => {
            // no half session left behind
            if let Some(ended) = core.table.end(call) {
                for p in ended.ports {
                    core.close_socket(p);
                    core.close_socket(p + 1);
                }
            }
            Err(e)
        }
    }
}
