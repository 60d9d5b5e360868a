//! The dialing-plan table: prefix → action, longest prefix first, then priority.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use crate::Action;

/// One row of the dialing plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The leading text of the number this entry is for; `""` matches every number.
    /// Case-sensitive, compared byte by byte.
    pub prefix: String,
    /// Among entries with the same prefix, lower values are tried first (Kamailio `pr`).
    pub priority: i32,
    /// What to do with the call.
    pub action: Action,
}

impl Entry {
    /// Shorthand for the struct literal.
    pub fn new(prefix: impl Into<String>, priority: i32, action: Action) -> Self {
        Self {
            prefix: prefix.into(),
            priority,
            action,
        }
    }
}

/// A number matched to one entry of a [`DialPlan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route<'a> {
    /// The entry that matched.
    pub entry: &'a Entry,
    /// The number with the entry's prefix removed.
    pub rest: &'a str,
    /// The whole number that was routed.
    pub number: &'a str,
}

impl<'a> Route<'a> {
    /// The number to put in the outgoing request, for the actions that have one:
    ///
    /// - [`Action::Gateway`]: the whole routed number ([`number`](Self::number), not
    ///   [`rest`](Self::rest)) with its first `strip` characters removed (all of them if it is
    ///   shorter), then `prepend` put in front. `strip=2 prepend=48` turns `0012` into `4812`.
    /// - [`Action::UserLookup`]: [`rest`](Self::rest), the login.
    /// - anything else: `None` (the action itself says where the call goes).
    pub fn target_number(&self) -> Option<Cow<'a, str>> {
        match &self.entry.action {
            Action::UserLookup => Some(Cow::Borrowed(self.rest)),
            Action::Gateway { strip, prepend, .. } => {
                let kept = match self.number.char_indices().nth(*strip) {
                    Some((at, _)) => &self.number[at..],
                    None => "",
                };
                Some(if prepend.is_empty() {
                    Cow::Borrowed(kept)
                } else {
                    Cow::Owned(format!("{prepend}{kept}"))
                })
            }
            Action::Service { .. } | Action::RingGroup { .. } | Action::Reject { .. } => None,
        }
    }
}

/// The dialing plan: entries indexed by prefix for sub-microsecond lookups.
///
/// Matching order (see also the [crate documentation](crate#dialing-plan)):
/// 1. the entry whose prefix is the **longest** leading part of the number wins;
/// 2. among entries with that same prefix, the **lowest `priority`** value comes first;
/// 3. entries with equal prefix and priority keep the order they were given in.
///
/// Internally a byte trie over the prefixes in flat arrays; a lookup walks at most one node per
/// byte of the number and stops at the first byte no prefix continues with.
#[derive(Clone, Default)]
pub struct DialPlan {
    /// Sorted by (prefix, priority), stable.
    entries: Vec<Entry>,
    trie: Trie,
}

impl DialPlan {
    /// Indexes `entries`. Any strings are accepted as prefixes (the empty one is the
    /// catch-all); duplicates are kept and ordered by priority.
    pub fn new(mut entries: Vec<Entry>) -> Self {
        entries.sort_by(|a, b| {
            a.prefix
                .as_bytes()
                .cmp(b.prefix.as_bytes())
                .then(a.priority.cmp(&b.priority))
        });
        let trie = Trie::build(&entries, |e| e.prefix.as_bytes());
        Self { entries, trie }
    }

    /// The first entry for the longest prefix of `number`, or `None` if no prefix matches
    /// (there is no catch-all entry `""`).
    pub fn route<'a>(&'a self, number: &'a str) -> Option<Route<'a>> {
        self.routes(number).next()
    }

    /// All entries for the longest prefix of `number` that has any, in priority order
    /// (empty if none matches). Shorter prefixes are not included: they are not fallbacks.
    pub fn routes<'a>(&'a self, number: &'a str) -> Routes<'a> {
        let (entries, prefix_len) = match self.trie.longest(number.as_bytes()) {
            Some((range, len)) => (&self.entries[range], len),
            None => (&self.entries[..0], 0),
        };
        Routes {
            entries: entries.iter(),
            // `len` bytes of `number` equal a whole `String`, so it ends on a char boundary.
            rest: &number[prefix_len..],
            number,
        }
    }

    /// All entries, sorted by prefix (byte order) then priority.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the plan has no entries (every lookup fails).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl FromIterator<Entry> for DialPlan {
    fn from_iter<I: IntoIterator<Item = Entry>>(iter: I) -> Self {
        Self::new(iter.into_iter().collect())
    }
}

impl fmt::Debug for DialPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DialPlan")
            .field("entries", &self.entries)
            .field("trie_nodes", &self.trie.nodes.len())
            .finish()
    }
}

/// The entries of [`DialPlan::routes`], in priority order.
#[derive(Debug, Clone)]
pub struct Routes<'a> {
    entries: std::slice::Iter<'a, Entry>,
    rest: &'a str,
    number: &'a str,
}

impl<'a> Routes<'a> {
    fn wrap(&self, entry: &'a Entry) -> Route<'a> {
        Route {
            entry,
            rest: self.rest,
            number: self.number,
        }
    }
}

impl<'a> Iterator for Routes<'a> {
    type Item = Route<'a>;

    fn next(&mut self) -> Option<Route<'a>> {
        let entry = self.entries.next()?;
        Some(self.wrap(entry))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl<'a> DoubleEndedIterator for Routes<'a> {
    fn next_back(&mut self) -> Option<Route<'a>> {
        let entry = self.entries.next_back()?;
        Some(self.wrap(entry))
    }
}

impl ExactSizeIterator for Routes<'_> {}

impl std::iter::FusedIterator for Routes<'_> {}

/// The dialing plan's prefix trie over any sorted list of prefixes: the longest-prefix lookup
/// of other tables keyed by number prefix (the billing tariffs' rows).
#[derive(Clone, Default)]
pub struct PrefixIndex {
    trie: Trie,
}

impl PrefixIndex {
    /// Indexes `items`, which must be sorted by the bytes `prefix` gives for each (duplicates
    /// adjacent).
    pub fn new<T>(items: &[T], prefix: impl Fn(&T) -> &str) -> Self {
        debug_assert!(items
            .windows(2)
            .all(|w| prefix(&w[0]).as_bytes() <= prefix(&w[1]).as_bytes()));
        Self {
            trie: Trie::build(items, |t| prefix(t).as_bytes()),
        }
    }

    /// The index range (in the slice given to [`Self::new`]) of the items with the longest
    /// prefix of `number` that has any, and that prefix's length in bytes.
    pub fn longest(&self, number: &str) -> Option<(Range<usize>, usize)> {
        self.trie.longest(number.as_bytes())
    }
}

impl fmt::Debug for PrefixIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrefixIndex")
            .field("nodes", &self.trie.nodes.len())
            .finish()
    }
}

/// A byte trie in flat arrays, laid out breadth-first. Node 0 is the root (the empty prefix).
/// The children of a node are consecutive nodes, sorted by the byte that leads to them, so the
/// k-th child is `first_child + k` and `labels[first_child..][..child_count]` are their bytes:
/// a step down touches the parent's node record and one run of labels.
#[derive(Clone, Default)]
struct Trie {
    nodes: Vec<Node>,
    /// `labels[n]` is the byte on the edge into node `n` (`labels[0]`, the root's, is unused).
    labels: Vec<u8>,
}

#[derive(Clone, Copy)]
struct Node {
    first_child: u32,
    child_count: u32,
    /// The entries whose prefix ends exactly here (empty range if none).
    entries_start: u32,
    entries_end: u32,
}

impl Trie {
    /// `entries` are sorted by prefix bytes (`prefix` reads one's), so every node's subtree is
    /// a contiguous range whose first entries are the ones ending at that node.
    fn build<T>(entries: &[T], prefix: impl Fn(&T) -> &[u8]) -> Self {
        let mut trie = Self::default();
        if entries.is_empty() {
            return trie;
        }
        assert!(
            u32::try_from(entries.len()).is_ok(),
            "a dialing plan holds at most u32::MAX entries"
        );
        // Breadth-first: (node, its subtree's entries, depth). No recursion, so a very long
        // prefix cannot overflow the stack; children are pushed together, so they are adjacent.
        let mut queue = std::collections::VecDeque::new();
        trie.nodes.push(Node::EMPTY);
        trie.labels.push(0);
        queue.push_back((0usize, 0..entries.len(), 0usize));
        while let Some((node, range, depth)) = queue.pop_front() {
            let exact_end = range.start
                + entries[range.clone()]
                    .iter()
                    .take_while(|e| prefix(e).len() == depth)
                    .count();
            let first_child = trie.nodes.len();
            let mut i = exact_end;
            while i < range.end {
                let label = prefix(&entries[i])[depth];
                let group_end = i + entries[i..range.end]
                    .iter()
                    .take_while(|e| prefix(e)[depth] == label)
                    .count();
                queue.push_back((trie.nodes.len(), i..group_end, depth + 1));
                trie.nodes.push(Node::EMPTY);
                trie.labels.push(label);
                i = group_end;
            }
            trie.nodes[node] = Node {
                first_child: to_u32(first_child),
                child_count: to_u32(trie.nodes.len() - first_child),
                entries_start: to_u32(range.start),
                entries_end: to_u32(exact_end),
            };
        }
        trie
    }

    /// The entries of the longest prefix of `number` that has any, and that prefix's length.
    #[inline]
    fn longest(&self, number: &[u8]) -> Option<(Range<usize>, usize)> {
        let mut node = *self.nodes.first()?;
        let mut best = (node.entries_start < node.entries_end).then_some((node, 0));
        for (depth, &byte) in number.iter().enumerate() {
            let first = node.first_child as usize;
            let labels = &self.labels[first..first + node.child_count as usize];
            let found = if labels.len() <= 16 {
                labels.iter().position(|&l| l == byte)
            } else {
                labels.binary_search(&byte).ok()
            };
            let Some(k) = found else { break };
            node = self.nodes[first + k];
            if node.entries_start < node.entries_end {
                best = Some((node, depth + 1));
            }
        }
        best.map(|(n, len)| (n.entries_start as usize..n.entries_end as usize, len))
    }
}

impl Node {
    const EMPTY: Self = Self {
        first_child: 0,
        child_count: 0,
        entries_start: 0,
        entries_end: 0,
    };
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("dialing plan too large for 32-bit trie indexes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(prefixes: &[&str]) -> DialPlan {
        DialPlan::new(
            prefixes
                .iter()
                .map(|p| Entry::new(*p, 0, Action::UserLookup))
                .collect(),
        )
    }

    #[test]
    fn one_node_per_distinct_leading_part() {
        // "", 4, 44, 442, 48, 486, 4860, o, on: shared paths are not duplicated.
        let p = plan(&["44", "442", "4860", "4860", "on", "486"]);
        assert_eq!(p.trie.nodes.len(), 9);
        assert_eq!(p.trie.labels.len(), p.trie.nodes.len());
        let root = p.trie.nodes[0];
        let root_labels = &p.trie.labels[root.first_child as usize..][..root.child_count as usize];
        assert_eq!(
            root_labels, b"4o",
            "the root's children are adjacent, in byte order"
        );
    }

    #[test]
    fn edges_are_sorted_for_binary_search() {
        // More than 16 children at the root takes the binary-search path.
        let prefixes: Vec<String> = (b'A'..=b'z')
            .rev()
            .map(|b| (b as char).to_string())
            .collect();
        let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
        let p = plan(&refs);
        let root = p.trie.nodes[0];
        let labels = &p.trie.labels[root.first_child as usize..][..root.child_count as usize];
        assert!(labels.len() > 16);
        assert!(labels.windows(2).all(|w| w[0] < w[1]));
        for prefix in &prefixes {
            assert_eq!(
                p.route(prefix).map(|r| r.entry.prefix.as_str()),
                Some(prefix.as_str())
            );
        }
        assert!(p.route("!").is_none());
    }
}
