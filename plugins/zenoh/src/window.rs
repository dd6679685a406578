//! Exactly-once per origin: which sequence numbers a receiver has seen.
//!
//! One stream per origin. Everything below `next` is settled (arrived, or
//! given up as lost); the `WINDOW` numbers from `next` up are tracked one bit
//! each, so a message that arrives late by another path (a relay) within
//! the window is still taken once, and a second copy is refused. In the
//! usual case, one path in order, a message is `next` and the window is
//! empty: one comparison.

/// How far a message may arrive out of order and still be taken.
pub(crate) const WINDOW: u64 = 1024;
const WORDS: usize = (WINDOW / 64) as usize;

/// What to do with an arriving sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// First arrival: deliver it.
    Take,
    /// Seen before, or older than the window: drop it.
    Repeat,
}

/// The receiving side of one origin's stream.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    /// Every number below this is settled: it arrived, or it was counted lost.
    next: u64,
    /// Bit `i` (word `i / 64`, bit `i % 64`): `next + i` has arrived. Bit 0
    /// is always clear, or `next` would have moved past it.
    seen: [u64; WORDS],
    /// How many bits of `seen` are set.
    pending: u64,
    /// Numbers that fell below the window without arriving.
    lost: u64,
    /// The highest number taken plus one, or what the stream's end said.
    end: u64,
}

impl Window {
    /// A stream whose first arrival is `first`: what came before it was
    /// published before this receiver listened and is not counted lost.
    pub(crate) fn starting_at(first: u64) -> Window {
        Window {
            next: first,
            seen: [0; WORDS],
            pending: 0,
            lost: 0,
            end: first,
        }
    }

    pub(crate) fn arrive(&mut self, sequence: u64) -> Verdict {
        if sequence == self.next && self.pending == 0 {
            // In order with nothing pending: the usual case.
            self.next += 1;
            self.end = self.end.max(self.next);
            return Verdict::Take;
        }
        if sequence < self.next {
            return Verdict::Repeat;
        }
        if sequence - self.next >= WINDOW {
            // Slide so that `sequence` is the window's last place; what
            // leaves it unseen is lost.
            let by = sequence - WINDOW + 1 - self.next;
            self.slide(by);
        }
        let place = sequence - self.next;
        let (word, mask) = ((place / 64) as usize, 1u64 << (place % 64));
        if self.seen[word] & mask != 0 {
            return Verdict::Repeat;
        }
        self.seen[word] |= mask;
        self.pending += 1;
        self.end = self.end.max(sequence + 1);
        // Settle the run of arrivals at the window's start.
        let run = self.leading_run();
        self.slide(run);
        Verdict::Take
    }

    /// How many places from the window's start have arrived in a row.
    fn leading_run(&self) -> u64 {
        let mut run = 0;
        for word in self.seen {
            let ones = u64::from(word.trailing_ones());
            run += ones;
            if ones < 64 {
                break;
            }
        }
        run
    }

    /// Moves the window's start up by `by`, counting each place it passes
    /// that never arrived as lost.
    fn slide(&mut self, by: u64) {
        if by == 0 {
            return;
        }
        if by >= WINDOW {
            self.lost += by - self.pending;
            self.seen = [0; WORDS];
            self.pending = 0;
        } else {
            let (words, bits) = ((by / 64) as usize, (by % 64) as u32);
            let mut passed_arrived = 0;
            for (i, word) in self.seen.iter().enumerate() {
                if i < words {
                    passed_arrived += u64::from(word.count_ones());
                } else if i == words && bits > 0 {
                    passed_arrived += u64::from((word & ((1u64 << bits) - 1)).count_ones());
                }
            }
            let mut shifted = [0u64; WORDS];
            for (i, slot) in shifted.iter_mut().enumerate() {
                let from = i + words;
                if from >= WORDS {
                    break;
                }
                let low = self.seen[from] >> bits;
                let high = match (bits, self.seen.get(from + 1)) {
                    (0, _) | (_, None) => 0,
                    (_, Some(next)) => next << (64 - bits),
                };
                *slot = low | high;
            }
            self.seen = shifted;
            self.pending -= passed_arrived;
            self.lost += by - passed_arrived;
        }
        self.next += by;
    }

    /// Numbers below the highest taken (or the stream's end) that have not
    /// arrived: lost for good, or still late within the window.
    pub(crate) fn missing(&self) -> u64 {
        // Every number in `next..end` has arrived (a set bit) or not.
        self.lost + (self.end - self.next) - self.pending
    }

    /// The stream ended after `count` messages: whatever below it never
    /// came is missing.
    pub(crate) fn end_at(&mut self, count: u64) {
        self.end = self.end.max(count);
    }

    /// The highest number taken plus one, or what the stream's end said.
    pub(crate) fn end(&self) -> u64 {
        self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(window: &mut Window, sequences: impl IntoIterator<Item = u64>) -> Vec<u64> {
        sequences
            .into_iter()
            .filter(|s| window.arrive(*s) == Verdict::Take)
            .collect()
    }

    #[test]
    fn in_order_is_taken_once() {
        let mut w = Window::starting_at(0);
        assert_eq!(taken(&mut w, 0..5000), (0..5000).collect::<Vec<_>>());
        assert_eq!(taken(&mut w, 0..5000), Vec::<u64>::new());
        assert_eq!(w.missing(), 0);
        assert_eq!(w.end(), 5000);
    }

    #[test]
    fn a_late_joiner_counts_nothing_before_its_first() {
        let mut w = Window::starting_at(700);
        assert_eq!(taken(&mut w, 700..710), (700..710).collect::<Vec<_>>());
        assert_eq!(w.missing(), 0);
        assert_eq!(w.arrive(5), Verdict::Repeat);
    }

    #[test]
    fn a_gap_is_missing_and_a_late_copy_fills_it() {
        let mut w = Window::starting_at(0);
        assert_eq!(taken(&mut w, [0, 1, 4, 5]), [0, 1, 4, 5]);
        assert_eq!(w.missing(), 2);
        assert_eq!(taken(&mut w, [3, 3, 4]), [3]);
        assert_eq!(w.missing(), 1);
        assert_eq!(taken(&mut w, [2, 6]), [2, 6]);
        assert_eq!(w.missing(), 0);
        assert_eq!(w.next, 7);
    }

    #[test]
    fn two_interleaved_paths_give_each_number_once() {
        // A direct path in order, a relayed copy of every number a little
        // behind and shuffled by a few places.
        let mut w = Window::starting_at(0);
        let mut arrivals = Vec::new();
        for s in 0..10_000u64 {
            arrivals.push(s);
            if s >= 7 {
                arrivals.push(s - 7 + (s % 3));
            }
        }
        let got = taken(&mut w, arrivals);
        assert_eq!(got, (0..10_000).collect::<Vec<_>>());
        assert_eq!(w.missing(), 0);
    }

    #[test]
    fn a_jump_beyond_the_window_counts_the_hole_exactly() {
        let mut w = Window::starting_at(0);
        assert_eq!(taken(&mut w, [0, 1, 2]), [0, 1, 2]);
        assert_eq!(taken(&mut w, [100_000]), [100_000]);
        assert_eq!(w.missing(), 100_000 - 3);
        // Inside the window below the jump a straggler is still taken...
        assert_eq!(taken(&mut w, [100_000 - 5]), [100_000 - 5]);
        // ...one below the window is not.
        assert_eq!(taken(&mut w, [3]), Vec::<u64>::new());
        assert_eq!(w.missing(), 100_000 - 4);
        assert_eq!(taken(&mut w, 100_001..100_004), [100_001, 100_002, 100_003]);
        assert_eq!(w.missing(), 100_000 - 4);
    }

    #[test]
    fn a_jump_with_pending_bits_counts_each_hole_once() {
        let mut w = Window::starting_at(0);
        assert_eq!(taken(&mut w, [0, 2, 4, 6]), [0, 2, 4, 6]);
        assert_eq!(w.missing(), 3);
        assert_eq!(taken(&mut w, [3000]), [3000]);
        // 1, 3, 5 and 7..3000 never arrived.
        assert_eq!(w.missing(), 3 + (3000 - 7));
    }

    #[test]
    fn an_end_counts_the_tail() {
        let mut w = Window::starting_at(0);
        assert_eq!(taken(&mut w, [0, 1, 2]), [0, 1, 2]);
        w.end_at(10);
        assert_eq!(w.missing(), 7);
        assert_eq!(w.end(), 10);
    }
}
