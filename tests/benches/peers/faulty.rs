//! A host that breaks the delivery contract on purpose, one way at a time,
//! so the smoke check proves the delivery check catches each fault.

use crate::host::{BenchHost, Summer};

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The first plugin never sees the second message.
    LoseOne,
    /// The first plugin sees the first message twice instead of the second.
    Duplicate,
    /// The first plugin's state is leaked, never dropped.
    Leak,
    /// The host miscounts what the first plugin handled.
    Miscount,
}

/// Every plugin on the sender's thread, delivered to at once, with one
/// [`Fault`].
#[derive(Debug)]
pub(crate) struct Faulty {
    fault: Fault,
    summers: Vec<Summer>,
    handled: Vec<u64>,
}

impl Faulty {
    pub(crate) fn new(fault: Fault) -> Self {
        Faulty {
            fault,
            summers: Vec::new(),
            handled: Vec::new(),
        }
    }
}

impl BenchHost for Faulty {
    fn attach_sum_plugins(&mut self, summers: Vec<Summer>) {
        self.handled.extend(summers.iter().map(|_| 0));
        self.summers.extend(summers);
    }

    fn send(&mut self, value: u64) {
        for (i, summer) in self.summers.iter_mut().enumerate() {
            let first_and_second = i == 0 && value == 2;
            match self.fault {
                Fault::LoseOne if first_and_second => continue,
                Fault::Duplicate if first_and_second => summer.add(1),
                _ => summer.add(value),
            }
            self.handled[i] += 1;
        }
    }

    fn shutdown(mut self: Box<Self>) -> Option<Vec<u64>> {
        let mut summers = std::mem::take(&mut self.summers).into_iter();
        if self.fault == Fault::Leak {
            std::mem::forget(summers.next());
        }
        drop(summers);
        if self.fault == Fault::Miscount {
            self.handled[0] -= 1;
        }
        Some(std::mem::take(&mut self.handled))
    }
}
