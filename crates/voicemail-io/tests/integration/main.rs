//! The voicemail service over real sockets: SIPp calls it (a real PCMU recording played with
//! play_pcap_audio), the store is a real SQLite file, files land in a temporary directory.

mod capacity;
mod deposit;
mod greeting;
mod mail;
mod playback;
mod support;
