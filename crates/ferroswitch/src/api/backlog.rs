//! The events of one WebSocket channel, numbered and kept (bounded) so that a client that
//! was not connected gets what it missed when it comes back.
//!
//! Every event gets the channel's next sequence number (`seq`). The last [`KEPT`] events
//! are kept. A socket that connects with `?since=SEQ` first gets the kept events after
//! `SEQ`; without `since`, the kept events no socket has taken yet. Then the live ones.
//! Numbers start from the clock (epoch milliseconds) when the channel is made or loaded at
//! start-up, so they keep increasing across a restart (at fewer than 1,000 events per second
//! on average) and a client's `since` from before a restart stays meaningful.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast;

/// How many events a channel keeps for replay.
pub(crate) const KEPT: usize = 1000;

/// One numbered event: its `seq` and its JSON text.
pub(crate) type Numbered = (u64, Arc<str>);

/// A WebSocket channel's numbered events.
pub(crate) struct Backlog {
    next_seq: u64,
    kept: VecDeque<Numbered>,
    /// The highest `seq` a socket has taken.
    taken: u64,
    live: broadcast::Sender<Numbered>,
}

impl Backlog {
    /// A backlog whose first event is numbered `first_seq`.
    pub(crate) fn new(first_seq: u64) -> Self {
        let (live, _) = broadcast::channel(4096);
        Self {
            next_seq: first_seq.max(1),
            kept: VecDeque::new(),
            taken: first_seq.max(1) - 1,
            live,
        }
    }

    /// A backlog numbered from the clock (see the module's doc).
    pub(crate) fn from_clock() -> Self {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_millis());
        Self::new(u64::try_from(ms).unwrap_or(1))
    }

    /// Numbers `event` (a JSON object's text without `seq`), keeps it and hands it to the
    /// connected sockets.
    pub(crate) fn push(&mut self, event: &serde_json::Map<String, serde_json::Value>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut event = event.clone();
        event.insert("seq".into(), seq.into());
        let text: Arc<str> = serde_json::Value::Object(event).to_string().into();
        if self.kept.len() == KEPT {
            self.kept.pop_front();
        }
        self.kept.push_back((seq, text.clone()));
        let _ = self.live.send((seq, text));
    }

    /// What a socket connecting now gets: the kept events after `since` (default: after
    /// the last one a socket took), and the live ones to come.
    pub(crate) fn connect(
        &self,
        since: Option<u64>,
    ) -> (Vec<Numbered>, broadcast::Receiver<Numbered>) {
        let after = since.unwrap_or(self.taken);
        let missed = self
            .kept
            .iter()
            .filter(|(seq, _)| *seq > after)
            .cloned()
            .collect();
        (missed, self.live.subscribe())
    }

    /// A socket took the event `seq`.
    pub(crate) fn taken(&mut self, seq: u64) {
        self.taken = self.taken.max(seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u64) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("n".into(), n.into());
        m
    }

    fn seqs(v: &[Numbered]) -> Vec<u64> {
        v.iter().map(|(s, _)| *s).collect()
    }

    #[test]
    fn events_sent_while_disconnected_are_replayed() {
        let mut b = Backlog::new(1);
        b.push(&ev(1));
        b.push(&ev(2));
        // nobody took them: a socket gets both, numbered
        let (missed, _) = b.connect(None);
        assert_eq!(seqs(&missed), [1, 2]);
        assert!(missed[0].1.contains("\"seq\":1"), "{}", missed[0].1);
        b.taken(2);
        b.push(&ev(3));
        assert_eq!(seqs(&b.connect(None).0), [3]);
        // since: exactly what the client says it lacks
        assert_eq!(seqs(&b.connect(Some(1)).0), [2, 3]);
        assert!(b.connect(Some(3)).0.is_empty());
    }

    #[test]
    fn the_backlog_is_bounded_and_live_events_follow() {
        let mut b = Backlog::new(10);
        let (_, mut live) = b.connect(None);
        for n in 0..(KEPT as u64 + 5) {
            b.push(&ev(n));
        }
        let (missed, _) = b.connect(Some(0));
        assert_eq!(missed.len(), KEPT);
        assert_eq!(missed[0].0, 15, "the oldest 5 are gone");
        assert_eq!(live.try_recv().unwrap().0, 10);
    }

    #[test]
    fn numbers_from_the_clock_increase_across_a_restart() {
        let mut before = Backlog::from_clock();
        before.push(&ev(0));
        let last = before.connect(Some(0)).0[0].0;
        std::thread::sleep(std::time::Duration::from_millis(2));
        let mut after = Backlog::from_clock();
        after.push(&ev(1));
        assert!(after.connect(Some(0)).0[0].0 > last);
    }
}
