//! Interop with real softphones (issue 13's proof): the real `ferroswitch` binary on
//! loopback, Debian's baresip 1.0 (`baresip-core`) and linphonec 5.1 (`linphone-cli`) run
//! headless — baresip with a sine tone as its microphone, linphonec without a sound card.
//! `scripts/test` runs this suite (it runs every test target of the workspace) and installs
//! both clients; a missing one fails under `FERRO_REQUIRE_TOOLS=1` (CI) and is a recorded
//! skip otherwise.
//!
//! | test | proves |
//! |---|---|
//! | `register::baresip_registers_over_udp_tcp_and_tls` | three baresip phones, one binding each with its transport |
//! | `register::linphonec_registers_over_udp_tcp_and_tls` | the same with linphonec |
//! | `calls::baresip_calls_baresip_through_the_relay_with_dtmf_and_hold` | the call is set up, RTP flows both ways through the relay (CDR packet counts of both legs), RFC 4733 digits reach the callee, hold and resume reach it as re-INVITE offers, the call ends 200 |
//! | `calls::baresip_transfers_a_call` | REFER crosses the B2BUA: the transferee calls the target |
//! | `calls::linphonec_calls_baresip` | linphonec's INVITE reaches baresip, which answers; the CDR says 200 |
//! | `messages::linphonec_and_baresip_message_each_other` | a MESSAGE each way, shown by the other client |
//! | `messages::a_message_to_an_offline_baresip_is_delivered_when_it_registers` | stored, then delivered on REGISTER |
//! | `presence::presence_both_ways_between_baresip_and_linphonec` | linphonec's PUBLISH reaches baresip's watcher, baresip's reaches linphonec's |
//! | `voicemail::baresip_leaves_a_voicemail_and_plays_it_back` | baresip (PCMU, `aufile` source) leaves a message for a user with no device in the built-in voicemail; the stored samples are the recording's; baresip plays it through `950msgN` and its `sndfile` dump holds the stored samples |
//! | `presence::linphones_list_subscription_shows_the_buddies` | linphone's RFC 5367 list SUBSCRIBE gets 200 and a NOTIFY naming the friends the `contacts` table allows; linphonec shows them (alice online, bob offline) and nothing of the friend the list lacks |
//!
//! What the clients cannot do headless here, said rather than faked:
//! - linphonec runs without a sound card and has no tone source like baresip's `ausine`; its
//!   file mode (`soundcard use files` + `play FILE.wav`) was not made part of this suite, so
//!   the linphonec call proves signalling and the answer (CDR 200), not linphonec's RTP. RTP
//!   is counted on the baresip call, whose `ausine` source sends real Opus packets, and
//!   DTMF, hold/resume and transfer are driven from baresip (its `ctrl_tcp` commands).

#[path = "../e2e/harness.rs"]
#[allow(dead_code)]
mod harness;

mod calls;
mod clients;
mod messages;
mod presence;
mod register;
mod voicemail;
