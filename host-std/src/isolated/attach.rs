//! `attach_isolated` on the async hosts.

use plugbus_core::{Fingerprint, PluginId};
use plugbus_host_async::{Host, Runtime};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{IsolateError, IsolateOptions, Isolated, IsolatedHandle};

/// [`Host::attach_isolated`](crate::Host::attach_isolated) on the async
/// hosts (`plugbus-host-smol` and `plugbus-host-tokio`, with their
/// `isolate` feature, which re-exports this module as `isolated`): starts
/// the plugin in the library at `path` in a child process of its own and
/// attaches its proxy on a lane thread (`attach_on_thread`), since the
/// proxy may wait for room in shared memory or for a restart.
///
/// ```
/// use plugbus_host_async::{Host, Runtime};
/// use plugbus_host_std::isolated::{AttachIsolated, IsolateError, IsolateOptions};
/// # #[derive(serde::Serialize, serde::Deserialize, plugbus_core::Fingerprint)] struct Job(u64);
///
/// // `host`: a `plugbus_host_smol::Host` or a `plugbus_host_tokio::Host`;
/// // the program's `main` calls `run_child::<Job>()` first (see the module).
/// fn start(host: &Host<Job, impl Runtime>) -> Result<(), IsolateError> {
///     let (id, plugin) = host.attach_isolated("plugins/libjob.so", "", IsolateOptions::new())?;
///     println!("{id}: {:?}", plugin.stats());
///     Ok(())
/// }
/// ```
pub trait AttachIsolated<M> {
    /// Starts the plugin in the library at `path` in a child process (with
    /// `config` for its constructor) and attaches it with the lane options
    /// in `options`. Returns its id and a handle on the child's counters.
    ///
    /// # Errors
    /// An [`IsolateError`]: the library refused, the child not started, or
    /// the attach refused.
    fn attach_isolated(
        &self,
        path: impl AsRef<std::path::Path>,
        config: &str,
        options: IsolateOptions,
    ) -> Result<(PluginId, IsolatedHandle), IsolateError>;
}

impl<M, R> AttachIsolated<M> for Host<M, R>
where
    M: Fingerprint + Serialize + DeserializeOwned + Send + Sync + 'static,
    R: Runtime,
{
    fn attach_isolated(
        &self,
        path: impl AsRef<std::path::Path>,
        config: &str,
        options: IsolateOptions,
    ) -> Result<(PluginId, IsolatedHandle), IsolateError> {
        let lane = options.lane_options();
        let plugin = Isolated::<M>::spawn(path, config, options)?;
        let handle = plugin.handle();
        let id = self
            .attach_on_thread(plugin, lane)
            .map_err(IsolateError::Attach)?;
        Ok((id, handle))
    }
}
