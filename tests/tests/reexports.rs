//! Every host crate re-exports what a plugin and a host need, so that one
//! dependency suffices: for each host crate, a plugin with an outbox and a
//! use of every name, written against that crate's names alone. A missing
//! name fails the build; the test checks the plugin runs.

macro_rules! written_against {
    ($module:ident, $host:ident) => {
        mod $module {
            use $host::{
                AttachError, AttachOptions, Exit, Fingerprint, Flow, Message, Outbox, OutboxFull,
                Overflow, Plugin, PluginId, PluginInfo, Replies, Report, SendError, Stats, Status,
                TrySendError, outbox,
            };

            /// Doubles what it gets into its outbox; leaves after `stop`.
            pub(crate) struct Doubler {
                pub(crate) out: Outbox<u64>,
                pub(crate) stop: u64,
            }

            impl Plugin<u64> for Doubler {
                fn handle_message(&mut self, message: &Message<u64>) -> Flow {
                    if **message == self.stop {
                        return Flow::Detach(Status::SUCCESS);
                    }
                    let _: Result<(), OutboxFull<u64>> = self.out.send(**message * 2);
                    Flow::Continue
                }
            }

            /// Names every other re-export in a signature.
            #[allow(clippy::too_many_arguments, dead_code)]
            fn every_name(
                _: AttachError,
                _: AttachOptions,
                _: Exit,
                _: Overflow,
                _: PluginId,
                _: PluginInfo,
                _: Report,
                _: SendError<u64>,
                _: Stats,
                _: TrySendError<u64>,
            ) {
            }

            #[allow(dead_code)]
            fn fingerprinted<T: Fingerprint>() -> u64 {
                T::FINGERPRINT
            }

            pub(crate) fn doubler(stop: u64) -> (Doubler, Replies<u64>) {
                let (out, replies) = outbox(16);
                (Doubler { out, stop }, replies)
            }
        }
    };
}

written_against!(std_names, plugbus_host_std);
written_against!(smol_names, plugbus_host_smol);
written_against!(tokio_names, plugbus_host_tokio);

#[test]
fn a_plugin_written_against_each_host_crate_runs_on_it() {
    use std::time::Duration;

    let (plugin, replies) = std_names::doubler(3);
    let host = plugbus_host_std::Host::new();
    host.attach(plugin).unwrap();
    host.send_batch([1, 2, 3, 4]).unwrap();
    assert_eq!(host.shutdown()[0].stats.handled, 3);
    assert_eq!(
        (replies.try_recv().as_deref(), replies.try_recv().as_deref()),
        (Some(&2), Some(&4))
    );

    let (plugin, replies) = smol_names::doubler(3);
    let host = plugbus_host_smol::Builder::new()
        .threads(1)
        .build()
        .unwrap();
    host.attach(plugin).unwrap();
    host.send_batch_blocking([1, 2, 3, 4]).unwrap();
    assert_eq!(host.shutdown_blocking()[0].stats.handled, 3);
    assert_eq!(
        (replies.try_recv().as_deref(), replies.try_recv().as_deref()),
        (Some(&2), Some(&4))
    );

    let (plugin, replies) = tokio_names::doubler(3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let host = plugbus_host_tokio::Host::on(runtime.handle().clone());
    host.attach(plugin).unwrap();
    host.send_batch_blocking([1, 2, 3, 4]).unwrap();
    assert_eq!(host.shutdown_blocking()[0].stats.handled, 3);
    assert_eq!(
        (replies.try_recv().as_deref(), replies.try_recv().as_deref()),
        (Some(&2), Some(&4))
    );
    runtime.shutdown_timeout(Duration::from_secs(5));
}
