//! Adapters of the hosts to [`TestHost`].

use plugbus_core::{
    AttachError, AttachOptions, LocalHost, Plugin, PluginId, Report, SendError, Stats, TrySendError,
};

use super::{Family, TestHost};

/// The poll-driven [`LocalHost`], the reference semantics.
#[derive(Debug)]
pub struct Local;

impl Family for Local {
    const NAME: &'static str = "LocalHost";
    const CONCURRENT: bool = false;
    type Host<M: Send + Sync + 'static> = LocalHost<M>;
    fn host<M: Send + Sync + 'static>(capacity: usize) -> LocalHost<M> {
        LocalHost::with_capacity(capacity)
    }
}

impl<M: Send + Sync + 'static> TestHost<M> for LocalHost<M> {
    fn attach_with(
        &mut self,
        plugin: Box<dyn Plugin<M>>,
        options: AttachOptions,
    ) -> Result<PluginId, AttachError> {
        LocalHost::attach_with(self, plugin, options)
    }
    fn send(&mut self, value: M) -> Result<(), SendError<M>> {
        LocalHost::send(self, value)
    }
    fn try_send(&mut self, value: M) -> Result<(), TrySendError<M>> {
        LocalHost::try_send(self, value)
    }
    fn run_pending(&mut self) {
        self.run_until_idle();
    }
    fn detach(&mut self, id: PluginId) -> bool {
        LocalHost::detach(self, id)
    }
    fn stats(&self, id: PluginId) -> Option<Stats> {
        LocalHost::stats(self, id)
    }
    fn shutdown(self) -> Vec<Report> {
        LocalHost::shutdown(self)
    }
}
