//! The plugbus hosts as benchmark implementations.
//!
//! Each host needs one `impl BenchHost` and one entry in
//! [`implementations`](crate::impls::implementations). The plugin is always
//! [`SumPlugin`]. For a host with the API the hosts share (`Host::new()`,
//! `attach(plugin)`, `send(value)`, `shutdown() -> Vec<Report>`), the
//! adapter is the one below with the host's type put in; for example the
//! std host:
//!
//! ```ignore
//! pub(crate) struct StdBench(Option<plugbus_host_std::Host<u64>>);
//!
//! impl BenchHost for StdBench {
//!     fn attach_sum_plugins(&mut self, summers: Vec<Summer>) {
//!         let host = self.0.as_mut().expect("host is live until shutdown");
//!         for summer in summers {
//!             host.attach(SumPlugin(summer)).expect("attach a benchmark plugin");
//!         }
//!     }
//!     fn send(&mut self, value: u64) {
//!         let host = self.0.as_mut().expect("host is live until shutdown");
//!         host.send(value).expect("a Block host never rejects");
//!     }
//!     fn shutdown(mut self: Box<Self>) -> Option<Vec<u64>> {
//!         handled(self.0.take().expect("shut down once").shutdown())
//!     }
//! }
//! ```
//!
//! An async host (smol, tokio) sends with `send_blocking` /
//! `shutdown_blocking` in `send` and `shutdown`, overrides `send_batch`
//! with `block_on(host.send_batch(values.iter().copied()))`, and overrides
//! `send_range` to run the whole loop as one task on its runtime (see
//! [`TokioMpsc`](crate::tokio_peers::TokioMpsc) for the shape), so that
//! a send costs what it costs a user inside the runtime.

use plugbus_core::{Flow, LocalHost, Message, Plugin, Report};

use crate::host::{BenchHost, Summer};

/// The benchmark plugin on every plugbus host: adds each payload into its
/// summer, reading the message through the lent envelope.
#[derive(Debug)]
pub(crate) struct SumPlugin(pub(crate) Summer);

impl Plugin<u64> for SumPlugin {
    #[inline]
    fn handle_message(&mut self, message: &Message<u64>) -> Flow {
        self.0.add(**message);
        Flow::Continue
    }

    fn name(&self) -> &str {
        "sum"
    }
}

/// Each plugin's handled count, from a host's shutdown reports.
pub(crate) fn handled(reports: Vec<Report>) -> Option<Vec<u64>> {
    Some(reports.iter().map(|report| report.stats.handled).collect())
}

/// `LocalHost`: no threads; lanes run when the ring is full, when the
/// workload waits ([`settle`](BenchHost::settle)), and at shutdown.
#[derive(Debug)]
pub(crate) struct LocalBench(Option<LocalHost<u64>>);

impl LocalBench {
    pub(crate) fn new() -> Self {
        LocalBench(Some(LocalHost::new()))
    }

    fn host(&mut self) -> &mut LocalHost<u64> {
        self.0.as_mut().expect("the host is live until shutdown")
    }
}

impl BenchHost for LocalBench {
    fn attach_sum_plugins(&mut self, summers: Vec<Summer>) {
        let host = self.host();
        for summer in summers {
            host.attach(SumPlugin(summer))
                .expect("the default options always fit the ring");
        }
    }

    fn send(&mut self, value: u64) {
        self.host()
            .send(value)
            .expect("a host whose plugins all block never rejects");
    }

    fn settle(&mut self) {
        self.host().run_until_idle();
    }

    fn shutdown(mut self: Box<Self>) -> Option<Vec<u64>> {
        handled(self.0.take().expect("shut down once").shutdown())
    }
}
