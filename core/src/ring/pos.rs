//! Positions in the ring and the arithmetic on them.

use core::fmt;

/// A position in the ring: message number `s` (counting every message ever
/// claimed) is held as `2s`, wrapping at `usize::MAX`. Bit 0 is thus free:
/// the head uses it for "closed", and a slot's stamp (`2s + 1`) is odd, so
/// it never equals any position and never matches a slot not yet written
/// for `s`.
///
/// Positions wrap, so they are compared by their wrapping difference
/// (`before`): that holds while the two are less than `usize::MAX / 4`
/// messages apart, far more than any ring's capacity (a lane lags at most
/// its capacity, at most [`MAX_CAPACITY`](super::MAX_CAPACITY)).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos(usize);

impl Pos {
    /// The position of the first message.
    pub(crate) const ZERO: Pos = Pos(0);

    /// The position a raw value holds, without its flag bit.
    pub(crate) fn from_raw(raw: usize) -> Pos {
        Pos(raw & !1)
    }

    /// The value to store in an atomic.
    pub(crate) fn raw(self) -> usize {
        self.0
    }

    /// `n` messages later.
    pub(crate) fn add(self, n: usize) -> Pos {
        Pos(self.0.wrapping_add(n.wrapping_mul(2)))
    }

    /// `n` messages earlier.
    pub(crate) fn sub(self, n: usize) -> Pos {
        Pos(self.0.wrapping_sub(n.wrapping_mul(2)))
    }

    /// How many messages lie from `self` up to `later`, which must not be
    /// before `self`.
    pub(crate) fn until(self, later: Pos) -> usize {
        later.0.wrapping_sub(self.0) >> 1
    }

    /// How many messages lie from `self` up to `limit`, or 0 if `limit` is
    /// not after `self`.
    pub(crate) fn room(self, limit: Pos) -> usize {
        if self.before(limit) {
            self.until(limit)
        } else {
            0
        }
    }

    /// Whether `self` comes strictly before `other`.
    pub(crate) fn before(self, other: Pos) -> bool {
        (other.0.wrapping_sub(self.0) as isize) > 0
    }

    /// The earlier of the two.
    pub(crate) fn min(self, other: Pos) -> Pos {
        if other.before(self) { other } else { self }
    }

    /// The later of the two.
    pub(crate) fn max(self, other: Pos) -> Pos {
        if self.before(other) { other } else { self }
    }

    /// The slot this position uses in a ring of `mask + 1` slots.
    pub(crate) fn index(self, mask: usize) -> usize {
        (self.0 >> 1) & mask
    }

    /// What a slot's stamp says once the message at this position is
    /// published in it.
    pub(crate) fn stamp(self) -> usize {
        self.0 | 1
    }
}

impl fmt::Debug for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pos({})", self.0 >> 1)
    }
}

#[cfg(test)]
mod tests {
    use super::Pos;

    #[test]
    fn positions_wrap_and_compare_across_the_wrap() {
        let near_end = Pos::from_raw(usize::MAX - 3); // two messages before the wrap
        let after = near_end.add(5);
        assert!(near_end.before(after));
        assert!(!after.before(near_end));
        assert_eq!(near_end.until(after), 5);
        assert_eq!(after.sub(5), near_end);
        assert_eq!(near_end.room(after), 5);
        assert_eq!(after.room(near_end), 0);
        assert_eq!(near_end.min(after), near_end);
        // Consecutive positions use consecutive slots, also across the wrap.
        let mask = 7;
        let slots: [usize; 4] = core::array::from_fn(|i| near_end.add(i).index(mask));
        assert_eq!(slots, [6, 7, 0, 1]);
    }

    #[test]
    fn stamps_are_odd_and_differ_between_laps() {
        let p = Pos::ZERO.add(3);
        assert_eq!(p.stamp() & 1, 1);
        assert_ne!(p.stamp(), p.add(8).stamp());
        assert_eq!(Pos::from_raw(p.raw() | 1), p);
    }
}
