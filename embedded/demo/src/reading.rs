//! What flows through the host: sensor readings out, alerts back.

/// One sample of one sensor: the message every plugin receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// Position in the stream, from 0.
    pub seq: u32,
    /// Which sensor, `0..SENSORS`.
    pub sensor: u8,
    /// The sample, `0..1000`.
    pub value: u16,
}

/// A plugin's answer to the main loop, sent through the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alert {
    /// The reading that raised it.
    pub reading: Reading,
}

/// How many sensors the board has.
pub const SENSORS: u8 = 4;

/// Simulated sensors: each call to [`sample`](Sensors::sample) samples the next
/// sensor in turn, with values from a fixed pseudo-random sequence
/// (xorshift32), so every run sends the same readings.
#[derive(Debug, Clone)]
pub struct Sensors {
    seq: u32,
    state: u32,
}

impl Sensors {
    /// Sensors that start at reading 0.
    pub const fn new() -> Self {
        Sensors {
            seq: 0,
            state: 0x2545_f491,
        }
    }

    /// The next reading.
    pub fn sample(&mut self) -> Reading {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.state = x;
        let reading = Reading {
            seq: self.seq,
            sensor: (self.seq % u32::from(SENSORS)) as u8,
            value: (x % 1000) as u16,
        };
        self.seq += 1;
        reading
    }
}

impl Default for Sensors {
    fn default() -> Self {
        Self::new()
    }
}
