//! Port allocator: hands out RTP/RTCP port pairs (even RTP port, RTCP = RTP + 1) from a range.

use std::collections::VecDeque;

use super::RelayError;

/// Hands out port pairs `(p, p + 1)` with `p` even, from `[port_min, port_max]`.
///
/// Free pairs are kept in FIFO order: a released pair goes to the back, so a port is reused as late
/// as possible (late packets of an ended call do not land in a new one).
#[derive(Debug, Clone)]
pub struct PortAllocator {
    free: VecDeque<u16>,
    first: u16,
    pairs: usize,
}

/// How many pairs [`PortAllocator::allocate_with`] tries before giving up.
const MAX_TRIES: usize = 32;

impl PortAllocator {
    /// All even ports `p` with `port_min <= p` and `p + 1 <= port_max`.
    pub fn new(port_min: u16, port_max: u16) -> Result<Self, RelayError> {
        let first = port_min.checked_add(port_min % 2).filter(|&p| p != 0);
        let Some(first) = first else {
            return Err(RelayError::BadPortRange { port_min, port_max });
        };
        if port_max <= first {
            return Err(RelayError::BadPortRange { port_min, port_max });
        }
        let pairs = usize::from(port_max - first).div_ceil(2);
        let pairs = if usize::from(first) + 2 * pairs - 1 > usize::from(port_max) {
            pairs - 1
        } else {
            pairs
        };
        if pairs == 0 {
            return Err(RelayError::BadPortRange { port_min, port_max });
        }
        let free = (0..pairs).map(|i| first + 2 * i as u16).collect();
        Ok(Self { free, first, pairs })
    }

    /// Takes the next free pair; returns its (even) RTP port.
    pub fn allocate(&mut self) -> Option<u16> {
        self.free.pop_front()
    }

    /// Takes the next free pair for which `usable(port)` says yes (the driver binds its sockets
    /// there). Pairs refused go to the back of the queue. Tries at most 32 pairs.
    pub fn allocate_with(&mut self, mut usable: impl FnMut(u16) -> bool) -> Option<u16> {
        for _ in 0..self.free.len().min(MAX_TRIES) {
            let p = self.free.pop_front()?;
            if usable(p) {
                return Some(p);
            }
            self.free.push_back(p);
        }
        None
    }

    /// Gives a pair back (its RTP port). Ports outside the range, odd ports and pairs that are
    /// already free are ignored.
    pub fn release(&mut self, rtp_port: u16) {
        if self.contains(rtp_port) && !self.free.contains(&rtp_port) {
            self.free.push_back(rtp_port);
        }
    }

    /// Whether `rtp_port` is the RTP port of one of our pairs.
    pub fn contains(&self, rtp_port: u16) -> bool {
        rtp_port >= self.first
            && rtp_port % 2 == 0
            && usize::from(rtp_port - self.first) / 2 < self.pairs
    }

    /// The lowest port handed out.
    pub fn first_port(&self) -> u16 {
        self.first
    }

    /// The highest port handed out (an RTCP port).
    pub fn last_port(&self) -> u16 {
        self.first + (2 * self.pairs - 1) as u16
    }

    /// Number of pairs in the range.
    pub fn capacity(&self) -> usize {
        self.pairs
    }

    /// Number of pairs currently free.
    pub fn available(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_pairs_inside_the_range() {
        let a = PortAllocator::new(20001, 20006).unwrap();
        assert_eq!(a.capacity(), 2); // 20002/3, 20004/5
        assert_eq!(a.first_port(), 20002);
        assert_eq!(a.last_port(), 20005);
        let a = PortAllocator::new(20000, 30000).unwrap();
        assert_eq!(a.capacity(), 5000);
        assert_eq!(a.last_port(), 29999);
        assert!(PortAllocator::new(20000, 20000).is_err());
        assert!(PortAllocator::new(65535, 65535).is_err());
        assert!(PortAllocator::new(0, 1).is_err());
        let a = PortAllocator::new(65534, 65535).unwrap();
        assert_eq!(a.capacity(), 1);
    }

    #[test]
    fn fifo_reuse_and_refusals() {
        let mut a = PortAllocator::new(100, 107).unwrap();
        assert_eq!(a.allocate(), Some(100));
        assert_eq!(a.allocate(), Some(102));
        a.release(100);
        a.release(100);
        a.release(101);
        assert_eq!(a.available(), 3);
        assert_eq!(a.allocate_with(|p| p != 104), Some(106));
        assert_eq!(a.allocate(), Some(100));
        assert_eq!(a.allocate(), Some(104));
        assert_eq!(a.allocate(), None);
        assert_eq!(a.allocate_with(|_| true), None);
    }
}
