//! One bridged call: the WebRTC side (str0m: ICE-lite, DTLS-SRTP, RTCP mux) and the plain RTP
//! side, sans-IO.
//!
//! ```text
//!  browser ─SRTP/DTLS/STUN─▶ handle_browser(now, src, bytes) ─▶ str0m ─RtpPacket─▶ to plain RTP
//!  phone   ─────RTP───────▶ handle_plain(now, src, bytes) ─▶ payload ─write_rtp─▶ str0m ─▶ SRTP
//!  time ──────────────────▶ handle_timeout(now)            (ICE consent, DTLS retransmits, RTCP)
//!  poll_transmit() -> Datagram { leg, to, data }   poll_timeout() -> Instant
//! ```
//!
//! str0m runs in RTP mode: every RTP packet of the browser comes out as one packet, so the
//! gateway re-packetises headers (payload type, sequence, timestamp, SSRC) and converts payloads
//! only when the codecs differ ([`Transcoder`]). RFC 4733 telephone-events map between the two
//! sides' payload types (and clock rates, ×6 for a 48 kHz event clock).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use media::sdp::{Direction, Sdp};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::config::{CryptoProvider, DtlsCert};
use str0m::format::{Codec, FormatParams};
use str0m::media::{Direction as MediaDirection, Frequency, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpPacket, RtpWrite};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

use crate::codec::{BrowserCodec, Transcoder};
use crate::profile::{self, PlainMedia, G711};
use crate::rtp::{scale_event_duration, PlainRtp, TsMap};

mod hold;
mod rtcp;
mod sdp;

use sdp::{answered, offered_codecs};

/// A latched plain source silent this long may be replaced by another one (the relay's default).
const RELATCH_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// Shared by all calls of a process: the crypto provider and our DTLS certificate (one
/// fingerprint per process; generating a key per call would cost more than the call setup).
#[derive(Clone)]
pub struct GatewayConfig {
    provider: Arc<CryptoProvider>,
    cert: DtlsCert,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig").finish_non_exhaustive()
    }
}

impl GatewayConfig {
    /// Generates the process's DTLS certificate (ECDSA P-256, self-signed).
    pub fn new() -> Result<Self, GatewayError> {
        let provider = str0m::crypto::from_feature_flags();
        let cert = provider
            .dtls_provider
            .generate_certificate()
            .ok_or(GatewayError::Certificate)?;
        Ok(Self {
            provider: Arc::new(provider),
            cert,
        })
    }
}

/// Why a gateway could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The DTLS certificate could not be generated.
    #[error("no DTLS certificate")]
    Certificate,
    /// The WebRTC offer was refused (str0m's reason).
    #[error("WebRTC offer: {0}")]
    Offer(String),
    /// The offer has no audio codec we bridge (PCMU, PCMA or Opus).
    #[error("no PCMU, PCMA or Opus audio in the WebRTC offer")]
    NoCodec,
    /// The plain side's SDP has no PCMU/PCMA audio line.
    #[error("no PCMU/PCMA audio in the plain SDP")]
    PlainCodec,
    /// libopus.
    #[error(transparent)]
    Codec(#[from] crate::codec::CodecError),
}

/// Which side of the gateway a datagram belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    /// The WebRTC endpoint (SRTP, DTLS, STUN).
    Browser,
    /// The plain RTP side.
    Plain,
    /// The plain side's RTCP (from the port after the one facing it).
    PlainRtcp,
}

/// A datagram to send from the relay port facing `leg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// The leg (selects the local port).
    pub leg: Leg,
    /// Destination.
    pub to: SocketAddr,
    /// Bytes.
    pub data: Vec<u8>,
}

/// Packet counters of one gateway.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GatewayStats {
    /// RTP packets received from the browser (decrypted) and sent on as plain RTP.
    pub browser_to_plain: u64,
    /// Plain RTP packets received and sent on to the browser.
    pub plain_to_browser: u64,
    /// Bytes of RTP payload each way.
    pub browser_to_plain_bytes: u64,
    pub plain_to_browser_bytes: u64,
    /// Datagrams dropped (unparseable, unknown payload type, no destination yet, hold).
    pub dropped: u64,
    /// Compound RTCP packets from the plain side (read, not relayed), and reports sent to it.
    pub plain_rtcp_received: u64,
    pub plain_rtcp_sent: u64,
}

/// The browser side's negotiated payload types.
#[derive(Debug, Clone, Copy)]
struct BrowserPts {
    audio: u8,
    codec: BrowserCodec,
    /// telephone-event pt and its clock rate
    tele: Option<(u8, u32)>,
}

/// One bridged call. See the [module documentation](self).
pub struct Gateway {
    rtc: Rtc,
    /// The relay address the browser sends to (our ICE candidate).
    browser_local: SocketAddr,
    /// The last SDP for the browser: our answer, or our offer (see [`Gateway::offer_to_browser`]).
    answer: String,
    /// Our offer to the browser, until it answers.
    pending: Option<SdpPendingOffer>,
    mid: Option<Mid>,
    browser: BrowserPts,
    plain: Option<PlainMedia>,
    plain_latched: Option<SocketAddr>,
    /// When the latched source last sent: another source may take over after [`RELATCH_AFTER`].
    plain_last_rx: Option<Instant>,
    transcoder: Option<Transcoder>,
    /// towards the plain side
    plain_ssrc: u32,
    plain_seq: u16,
    to_plain_ts: TsMap,
    /// towards the browser
    browser_seq: u64,
    to_browser_ts: TsMap,
    out: VecDeque<Datagram>,
    timeout: Instant,
    connected: bool,
    closed: bool,
    stats: GatewayStats,
    session_version: u64,
    /// The direction the plain side's SDP says: the browser's last offer's or answer's
    /// (hold passes across, see `hold.rs`).
    plain_dir: Direction,
    /// The plain leg's RTCP (`crate::rtcp`): its reports read, ours sent.
    plain_rtcp: crate::rtcp::PlainRtcp,
    /// Where the plain side's RTCP came from (symmetric RTCP), and our last RTP time to it.
    plain_rtcp_latched: Option<SocketAddr>,
    to_plain_last_ts: u32,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("browser_local", &self.browser_local)
            .field("browser", &self.browser)
            .field("plain", &self.plain)
            .field("connected", &self.connected)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn build_rtc(
    now: Instant,
    config: &GatewayConfig,
    (pcmu, pcma): (bool, bool),
    opus: bool,
    local: SocketAddr,
) -> Result<Rtc, GatewayError> {
    let mut rc = RtcConfig::new()
        .set_ice_lite(true)
        .set_crypto_provider(Arc::clone(&config.provider))
        .set_dtls_cert(config.cert.clone())
        .set_rtp_mode(true)
        .clear_codecs();
    let tele = |codecs: &mut str0m::format::CodecConfig, pt: u8, rate| {
        codecs.add_config(
            pt.into(),
            None,
            Codec::Tele,
            rate,
            None,
            FormatParams::parse_line("0-16"),
        );
    };
    let codecs = rc.codec_config();
    if pcmu || pcma {
        codecs.enable_pcmu(pcmu, false);
        codecs.enable_pcma(pcma, false);
        tele(codecs, 101, Frequency::EIGHT_KHZ);
    } else if opus {
        codecs.enable_opus(true, false);
        tele(codecs, 110, Frequency::FORTY_EIGHT_KHZ);
        tele(codecs, 126, Frequency::EIGHT_KHZ);
    }
    let mut rtc = rc.build(now);
    let cand = Candidate::host(local, "udp").map_err(|e| GatewayError::Offer(e.to_string()))?;
    rtc.add_local_candidate(cand);
    Ok(rtc)
}

impl Gateway {
    /// Accepts the browser's offer. `local` is the relay address (advertised IP and the port
    /// facing the browser) written as our only ICE candidate. Returns the gateway; the answer
    /// for the browser is [`Gateway::browser_answer`], the offer for the plain side
    /// [`Gateway::plain_offer`].
    ///
    /// When the browser offers PCMU or PCMA, only G.711 is answered (no transcoding); Opus only
    /// when there is no G.711 in the offer.
    pub fn accept_offer(
        now: Instant,
        config: &GatewayConfig,
        offer: &str,
        local: SocketAddr,
    ) -> Result<Self, GatewayError> {
        let parsed =
            Sdp::parse(offer.as_bytes()).map_err(|e| GatewayError::Offer(e.to_string()))?;
        let (pcmu, pcma, opus) = offered_codecs(&parsed);
        if !(pcmu || pcma || opus) {
            return Err(GatewayError::NoCodec);
        }
        let mut rtc = build_rtc(now, config, (pcmu, pcma), opus, local)?;
        let offer =
            SdpOffer::from_sdp_string(offer).map_err(|e| GatewayError::Offer(e.to_string()))?;
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| GatewayError::Offer(e.to_string()))?
            .to_sdp_string();
        let browser = answered(&answer).ok_or(GatewayError::NoCodec)?;
        let mut gw = Self::with(now, rtc, local, answer, browser);
        gw.plain_dir = profile::audio_direction(&parsed);
        gw.drain();
        Ok(gw)
    }

    fn with(now: Instant, rtc: Rtc, local: SocketAddr, sdp: String, browser: BrowserPts) -> Self {
        Self {
            rtc,
            browser_local: local,
            answer: sdp,
            pending: None,
            mid: None,
            browser,
            plain: None,
            plain_latched: None,
            plain_last_rx: None,
            transcoder: None,
            plain_ssrc: rand_u32(now),
            plain_seq: rand_u32(now) as u16,
            to_plain_ts: TsMap::default(),
            browser_seq: u64::from(rand_u32(now) as u16),
            to_browser_ts: TsMap::default(),
            out: VecDeque::new(),
            timeout: now,
            connected: false,
            closed: false,
            stats: GatewayStats::default(),
            session_version: 1,
            plain_dir: Direction::SendRecv,
            plain_rtcp: crate::rtcp::PlainRtcp::default(),
            plain_rtcp_latched: None,
            to_plain_last_ts: 0,
        }
    }

    /// The other direction: a plain offer (`RTP/AVP`, G.711) going to a WebRTC endpoint. The
    /// gateway makes the WebRTC offer (ICE-lite, DTLS `actpass`, RTCP mux, PCMU/PCMA and
    /// telephone-event: every browser has G.711, so no transcoding) from `local`; the browser's
    /// answer goes to [`Gateway::accept_browser_answer`], after which
    /// [`Gateway::plain_answer`] is the answer for the plain side.
    pub fn offer_to_browser(
        now: Instant,
        config: &GatewayConfig,
        plain_offer: &Sdp,
        local: SocketAddr,
    ) -> Result<Self, GatewayError> {
        let plain = profile::read_plain(plain_offer).ok_or(GatewayError::PlainCodec)?;
        let mut rtc = build_rtc(now, config, (true, true), false, local)?;
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, MediaDirection::SendRecv, None, None, None);
        let (offer, pending) = api
            .apply()
            .ok_or_else(|| GatewayError::Offer("no offer".into()))?;
        let offer = offer.to_sdp_string();
        // until the browser answers: what the plain side asked for
        let guess = BrowserPts {
            audio: plain.codec.pt(),
            codec: BrowserCodec::G711(plain.codec),
            tele: Some((101, 8000)),
        };
        let mut gw = Self::with(now, rtc, local, offer, guess);
        gw.pending = Some(pending);
        gw.plain = Some(plain);
        gw.mid = Some(mid);
        gw.drain();
        Ok(gw)
    }

    /// Whether the gateway waits for the browser's answer to its offer.
    pub fn awaits_browser_answer(&self) -> bool {
        self.pending.is_some()
    }

    /// The browser's answer to [`Gateway::offer_to_browser`].
    pub fn accept_browser_answer(&mut self, answer: &str) -> Result<(), GatewayError> {
        let pending = self
            .pending
            .take()
            .ok_or_else(|| GatewayError::Offer("no offer pending".into()))?;
        let parsed =
            SdpAnswer::from_sdp_string(answer).map_err(|e| GatewayError::Offer(e.to_string()))?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, parsed)
            .map_err(|e| GatewayError::Offer(e.to_string()))?;
        self.browser = answered(answer).ok_or(GatewayError::NoCodec)?;
        self.plain_dir = hold::direction_of(answer);
        if let Some(p) = self.plain {
            self.transcoder = Some(Transcoder::new(self.browser.codec, p.codec)?);
        }
        self.drain();
        Ok(())
    }

    /// The plain answer (to the plain side's offer): the relay's `ip`/`port`, the codec it
    /// offered first and its telephone-event payload type.
    pub fn plain_answer(&mut self, ip: std::net::IpAddr, port: u16) -> String {
        let v = self.session_version;
        self.session_version += 1;
        let p = self.plain.unwrap_or(PlainMedia {
            rtp: None,
            codec: G711::Pcmu,
            telephone_event: None,
            rtcp: None,
            rtcp_mux: false,
            hold: false,
        });
        profile::plain_answer(
            ip,
            port,
            (p.codec, p.telephone_event),
            (u64::from(self.plain_ssrc), v),
            self.plain_dir,
        )
    }

    /// A new offer from the browser in the same call (a re-INVITE: ICE restart, codec or
    /// direction change): str0m answers it on the same session; [`Gateway::browser_answer`]
    /// then returns the new answer.
    pub fn accept_reoffer(&mut self, offer: &str) -> Result<(), GatewayError> {
        self.plain_dir = hold::direction_of(offer);
        let offer =
            SdpOffer::from_sdp_string(offer).map_err(|e| GatewayError::Offer(e.to_string()))?;
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| GatewayError::Offer(e.to_string()))?
            .to_sdp_string();
        self.browser = answered(&answer).ok_or(GatewayError::NoCodec)?;
        if let Some(p) = self.plain {
            self.transcoder = Some(Transcoder::new(self.browser.codec, p.codec)?);
        }
        self.answer = answer;
        self.drain();
        Ok(())
    }

    /// The SDP for the browser: our answer to its offer, or our offer (ICE-lite, our ufrag/pwd and fingerprint, one host
    /// candidate: the relay).
    pub fn browser_answer(&self) -> &str {
        &self.answer
    }

    /// The browser's codec in our answer.
    pub fn browser_codec(&self) -> BrowserCodec {
        self.browser.codec
    }

    /// The plain `RTP/AVP` offer for the other side: `ip`/`port` are the relay's, facing it.
    pub fn plain_offer(&mut self, ip: std::net::IpAddr, port: u16) -> String {
        let first = match self.browser.codec {
            BrowserCodec::G711(g) => g,
            BrowserCodec::Opus => G711::Pcmu,
        };
        let v = self.session_version;
        self.session_version += 1;
        profile::plain_offer(
            ip,
            port,
            first,
            (u64::from(self.plain_ssrc), v),
            self.plain_dir,
        )
    }

    /// The plain side answered (or re-offered): its address, codec and telephone-event.
    pub fn set_plain(&mut self, sdp: &Sdp) -> Result<(), GatewayError> {
        let p = profile::read_plain(sdp).ok_or(GatewayError::PlainCodec)?;
        if self.plain.is_none_or(|old| old.codec != p.codec) || self.transcoder.is_none() {
            self.transcoder = Some(Transcoder::new(self.browser.codec, p.codec)?);
        }
        if self.plain.is_some_and(|old| old.rtp != p.rtp) {
            self.plain_latched = None;
        }
        self.plain = Some(p);
        Ok(())
    }

    /// Whether ICE and DTLS completed with the browser.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Whether the WebRTC side is gone (ICE consent lost, DTLS closed or failed).
    pub fn is_closed(&self) -> bool {
        self.closed || !self.rtc.is_alive()
    }

    /// Whether payloads pass without transcoding.
    pub fn is_passthrough(&self) -> bool {
        self.transcoder
            .as_ref()
            .is_some_and(Transcoder::is_passthrough)
    }

    /// Counters.
    pub fn stats(&self) -> GatewayStats {
        self.stats
    }

    /// A datagram from the browser arrived on the relay port facing it.
    pub fn handle_browser(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        let Ok(contents) = data.try_into() else {
            self.stats.dropped += 1;
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.browser_local,
                contents,
            },
        );
        if let Err(e) = self.rtc.handle_input(input) {
            tracing::debug!(error = %e, %source, "WebRTC input refused");
            self.stats.dropped += 1;
        }
        self.drain();
    }

    /// A datagram from the plain side arrived on the relay port facing it.
    pub fn handle_plain(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        if crate::rtcp::is_rtcp(data) {
            // RTCP muxed on the RTP port (RFC 5761)
            self.handle_plain_rtcp(now, source, data);
            return;
        }
        let Some(rtp) = PlainRtp::parse(data) else {
            self.stats.dropped += 1;
            return;
        };
        let Some(plain) = self.plain else {
            self.stats.dropped += 1;
            return;
        };
        // symmetric latching, as the relay does: a second source cannot steal a live stream
        if let (Some(l), Some(t)) = (self.plain_latched, self.plain_last_rx) {
            if l != source && now.saturating_duration_since(t) < RELATCH_AFTER {
                self.stats.dropped += 1;
                return;
            }
        }
        self.plain_latched = Some(source);
        self.plain_last_rx = Some(now);
        self.plain_rtcp.on_rtp(now, rtp.ssrc, rtp.seq, rtp.ts);
        let (Some(mid), true) = (self.mid, self.connected) else {
            self.stats.dropped += 1;
            return;
        };
        let start = self.browser_seq as u32;
        if Some(rtp.pt) == plain.telephone_event {
            let Some((pt, rate)) = self.browser.tele else {
                self.stats.dropped += 1;
                return;
            };
            let mut payload = rtp.payload.to_vec();
            scale_event_duration(&mut payload, 8000, rate);
            let ts = self.to_browser_ts.map(rtp.ts, 8000, rate, start);
            self.write_browser(now, mid, pt, ts, rtp.marker, payload);
        } else if rtp.pt == plain.codec.pt() {
            let rate = self.browser.codec.clock_rate();
            let Some(t) = self.transcoder.as_mut() else {
                return;
            };
            let frames = t.to_browser(rtp.payload);
            for (offset, payload) in frames {
                let ts_in = rtp.ts.wrapping_add(offset as i32 as u32);
                let ts = self.to_browser_ts.map(ts_in, 8000, rate, start);
                let pt = self.browser.audio;
                self.write_browser(now, mid, pt, ts, rtp.marker, payload);
            }
        } else {
            self.stats.dropped += 1;
        }
    }

    fn write_browser(
        &mut self,
        now: Instant,
        mid: Mid,
        pt: u8,
        ts: u32,
        marker: bool,
        payload: Vec<u8>,
    ) {
        let len = payload.len() as u64;
        let seq = self.browser_seq;
        let mut api = self.rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(mid, None) else {
            self.stats.dropped += 1;
            return;
        };
        tx.write_rtp(RtpWrite::new(pt.into(), seq.into(), ts, now, payload).marker(marker));
        self.browser_seq += 1;
        self.stats.plain_to_browser += 1;
        self.stats.plain_to_browser_bytes += len;
        self.drain();
        if self.timeout <= now {
            self.handle_timeout(now);
        }
    }

    /// Time has come to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            tracing::debug!(error = %e, "WebRTC timeout handling failed");
        }
        self.drain();
        self.plain_report(now);
    }

    /// When [`Gateway::handle_timeout`] wants to be called.
    pub fn poll_timeout(&self) -> Instant {
        match self.plain_rtcp.poll_timeout() {
            Some(t) => t.min(self.timeout),
            None => self.timeout,
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Datagram> {
        self.out.pop_front()
    }

    /// Ends the WebRTC session (nothing more is sent).
    pub fn close(&mut self) {
        self.rtc.disconnect();
        self.closed = true;
    }

    fn drain(&mut self) {
        loop {
            let out = match self.rtc.poll_output() {
                Ok(o) => o,
                Err(e) => {
                    tracing::debug!(error = %e, "WebRTC session failed");
                    self.closed = true;
                    return;
                }
            };
            match out {
                Output::Timeout(t) => {
                    self.timeout = t;
                    return;
                }
                Output::Transmit(t) => self.out.push_back(Datagram {
                    leg: Leg::Browser,
                    to: t.destination,
                    data: t.contents.to_vec(),
                }),
                Output::Event(e) => self.event(e),
            }
        }
    }

    fn event(&mut self, e: Event) {
        match e {
            Event::MediaAdded(m) if self.mid.is_none() => self.mid = Some(m.mid),
            Event::Connected => self.connected = true,
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.closed = true;
            }
            Event::RtpPacket(p) => self.forward_to_plain(p),
            _ => {}
        }
    }

    fn forward_to_plain(&mut self, p: RtpPacket) {
        let Some(plain) = self.plain else {
            self.stats.dropped += 1;
            return;
        };
        let Some(to) = self.plain_latched.or(plain.rtp) else {
            self.stats.dropped += 1;
            return;
        };
        if plain.hold || to.ip().is_unspecified() || to.port() == 0 {
            self.stats.dropped += 1;
            return;
        }
        let pt = *p.header.payload_type;
        let start = u32::from(self.plain_seq).wrapping_mul(160);
        let (out_pt, payload, ts) = if self.browser.tele.is_some_and(|(t, _)| t == pt) {
            let Some(te) = plain.telephone_event else {
                self.stats.dropped += 1;
                return;
            };
            let rate = self.browser.tele.map_or(8000, |(_, r)| r);
            let mut payload = p.payload.to_vec();
            scale_event_duration(&mut payload, rate, 8000);
            let ts = self.to_plain_ts.map(p.header.timestamp, rate, 8000, start);
            (te, payload, ts)
        } else if pt == self.browser.audio {
            let Some(payload) = self
                .transcoder
                .as_mut()
                .and_then(|t| t.to_plain(&p.payload))
            else {
                self.stats.dropped += 1;
                return;
            };
            let rate = self.browser.codec.clock_rate();
            let ts = self.to_plain_ts.map(p.header.timestamp, rate, 8000, start);
            (plain.codec.pt(), payload, ts)
        } else {
            self.stats.dropped += 1;
            return;
        };
        let mut data = Vec::with_capacity(12 + payload.len());
        data.push(0x80);
        data.push(out_pt | if p.header.marker { 0x80 } else { 0 });
        data.extend_from_slice(&self.plain_seq.to_be_bytes());
        data.extend_from_slice(&ts.to_be_bytes());
        data.extend_from_slice(&self.plain_ssrc.to_be_bytes());
        data.extend_from_slice(&payload);
        self.plain_seq = self.plain_seq.wrapping_add(1);
        self.to_plain_last_ts = ts;
        self.stats.browser_to_plain += 1;
        self.stats.browser_to_plain_bytes += payload.len() as u64;
        self.out.push_back(Datagram {
            leg: Leg::Plain,
            to,
            data,
        });
    }
}

fn rand_u32(now: Instant) -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now.elapsed().as_nanos() as u64);
    h.finish() as u32
}
