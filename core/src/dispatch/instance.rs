//! The instance a lane runs, apart from the lane: the current plugin, and
//! for a supervised or replaced plugin everything that outlives it (its
//! factory, its supervisor, the instance kept for a rollback, the lane's
//! lifecycle events).
//!
//! The lane calls in at three points only, all between two messages: after
//! a failure ([`Instances::failed`]), when its backoff ends
//! ([`Instances::resume`]), and with a replacement the host sent
//! ([`Instances::replace`]). Every call into plugin code here is guarded:
//! a panic in a factory, a hook, a state hand-over or a `Drop` is reported,
//! never unwinds into the lane.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use super::guard::guard;
use super::runner::Runner;
use super::stats::{Counters, Lifecycle, Local};
use super::supervisor::{Decision, Failure, Supervisor};
use crate::Report;
use crate::lifecycle::replace::Outcome;
use crate::lifecycle::{
    Clock, DeadLetter, Event, Factory, Handover, ReplaceError, Replaced, Replacement,
};
use crate::message::Message;
use crate::outbox::Outbox;
use crate::plugin::{Exit, Plugin, PluginId};
use crate::policy::AttachOptions;

/// A plugin instance as a lane holds it: its batch loop compiled for its
/// type, behind one virtual call per batch.
pub(crate) type Erased<M> = Box<dyn Runner<M>>;

/// Erases a plugin for its lane.
pub(crate) fn erase<M: Send + Sync + 'static>(plugin: impl Plugin<M>) -> Erased<M> {
    Box::new(plugin)
}

/// A [`Factory`] behind one virtual call, with its error as text.
pub(crate) trait Make<M: Send + Sync + 'static>: Send {
    fn make(&mut self) -> Result<Erased<M>, String>;
}

impl<M: Send + Sync + 'static, F: Factory<M>> Make<M> for F {
    fn make(&mut self) -> Result<Erased<M>, String> {
        Factory::make(self)
            .map(erase)
            .map_err(|error| error.to_string())
    }
}

/// A replacement on its way to a lane, and where its outcome goes.
pub(crate) struct Control<M: Send + Sync + 'static> {
    pub(crate) replacement: Replacement<M>,
    pub(crate) outcome: Arc<Outcome>,
}

impl<M: Send + Sync + 'static> Control<M> {
    /// Tells the waiter the plugin left before the swap.
    pub(crate) fn refuse(self, id: PluginId) {
        self.outcome.settle(Err(ReplaceError::NotAttached(id)));
    }
}

/// What a lane does after a call into its instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    /// An instance runs: go on with the next message.
    Go,
    /// No instance until this time of the lane's clock (backoff).
    Wait(Duration),
    /// The plugin leaves with this exit (the current instance, if any,
    /// left to the lane's exit).
    Leave(Exit),
}

/// What the lane lends for a call.
pub(crate) struct Ctx<'a> {
    pub(crate) id: PluginId,
    /// The plugin's name, for its events.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) name: &'a str,
    pub(crate) local: &'a mut Local,
    pub(crate) counters: &'a Counters,
    /// The host is shutting down or the plugin was detached: a restart
    /// does not wait for its backoff.
    pub(crate) hurry: bool,
}

/// The lane's instance and what outlives it.
pub(crate) struct Instances<M: Send + Sync + 'static> {
    current: Option<Erased<M>>,
    /// Boxed and made on first need: most lanes are never supervised nor
    /// replaced, and a lane's size is part of what an idle plugin costs.
    life: Option<Box<Life<M>>>,
}

struct Life<M: Send + Sync + 'static> {
    factory: Option<Box<dyn Make<M>>>,
    supervisor: Option<Supervisor>,
    clock: Option<Arc<dyn Clock>>,
    dead_letters: Option<Outbox<DeadLetter<M>>>,
    /// The instance a replacement took over from, kept until the lane's
    /// `received` count reaches `until`, with the factory it came with.
    kept: Option<Kept<M>>,
    /// Waiting to restart until this time (no current instance meanwhile),
    /// and the panic that ended the last one.
    restart_at: Option<Duration>,
    cause: Option<String>,
    /// The panic that ended the plugin, for its report (here rather than
    /// in the lane, whose size every idle plugin pays).
    panic: Option<String>,
    panics: VecDeque<String>,
    events: VecDeque<Event>,
}

impl<M: Send + Sync + 'static> Life<M> {
    fn new() -> Self {
        Life {
            factory: None,
            supervisor: None,
            clock: None,
            dead_letters: None,
            kept: None,
            restart_at: None,
            cause: None,
            panic: None,
            panics: VecDeque::new(),
            events: VecDeque::new(),
        }
    }
}

/// An instance kept for a rollback.
struct Kept<M: 'static> {
    instance: Erased<M>,
    /// The lane's `received` count at which the window ends.
    until: usize,
    /// The factory before the replacement, if the replacement changed it.
    factory: Option<Box<dyn Make<M>>>,
}

fn keep_last<T>(list: &mut VecDeque<T>, item: T) {
    if list.len() == Report::KEPT {
        list.pop_front();
    }
    list.push_back(item);
}

impl<M: Send + Sync + 'static> Instances<M> {
    /// An unsupervised plugin.
    pub(crate) fn new(plugin: Erased<M>, dead_letters: Option<Outbox<DeadLetter<M>>>) -> Self {
        Instances {
            current: Some(plugin),
            life: dead_letters.map(|outbox| {
                let mut life = Life::new();
                life.dead_letters = Some(outbox);
                Box::new(life)
            }),
        }
    }

    /// A plugin whose lane restarts it with `factory` as `options` say;
    /// `first` is the factory's first instance.
    pub(crate) fn supervised(
        first: Erased<M>,
        factory: Box<dyn Make<M>>,
        options: &AttachOptions,
        dead_letters: Option<Outbox<DeadLetter<M>>>,
    ) -> Self {
        let mut life = Life::new();
        life.factory = Some(factory);
        life.supervisor = Some(Supervisor::new(
            options.restart,
            options.intensity,
            options.backoff,
        ));
        life.clock = options.clock.as_ref().map(|c| c.0.clone());
        #[cfg(feature = "std")]
        if life.clock.is_none() {
            life.clock = Some(Arc::new(crate::lifecycle::StdClock));
        }
        life.dead_letters = dead_letters;
        Instances {
            current: Some(first),
            life: Some(Box::new(life)),
        }
    }

    fn life(&mut self) -> &mut Life<M> {
        self.life.get_or_insert_with(|| Box::new(Life::new()))
    }

    /// The instance that runs, if one does.
    pub(crate) fn current(&mut self) -> Option<&mut Erased<M>> {
        self.current.as_mut()
    }

    /// Takes the instance for the lane's exit; a kept instance leaves
    /// first (its `on_detach` hears [`Exit::Replaced`]).
    pub(crate) fn take(&mut self) -> Option<Erased<M>> {
        self.release_kept();
        self.current.take()
    }

    /// When the lane's backoff ends, if it waits.
    pub(crate) fn restart_at(&self) -> Option<Duration> {
        self.life.as_ref().and_then(|life| life.restart_at)
    }

    /// The lane's clock, if it has one.
    pub(crate) fn now(&self) -> Option<Duration> {
        self.life.as_ref()?.clock.as_ref().map(|c| c.now())
    }

    /// Whether a failed message is worth cloning for the dead-letter outbox.
    pub(crate) fn wants_dead_letters(&self) -> bool {
        self.life.as_ref().is_some_and(|l| l.dead_letters.is_some())
    }

    /// Records the panic that ended the plugin.
    pub(crate) fn set_panic(&mut self, panic: String) {
        self.life().panic = Some(panic);
    }

    /// Whether a panic ended the plugin.
    pub(crate) fn has_panic(&self) -> bool {
        self.life.as_ref().is_some_and(|l| l.panic.is_some())
    }

    /// The panic that ended the plugin, for its report.
    pub(crate) fn take_panic(&mut self) -> Option<String> {
        self.life.as_mut()?.panic.take()
    }

    /// The last panic noted.
    pub(crate) fn last_panic(&self) -> Option<&str> {
        self.life.as_ref()?.panics.back().map(String::as_str)
    }

    /// Records a panic for the report.
    pub(crate) fn note_panic(&mut self, panic: &str) {
        keep_last(&mut self.life().panics, String::from(panic));
    }

    /// Records an event for the report (and, with the `tracing` feature,
    /// raises it; see [`trace`]).
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    fn event(&mut self, event: Event, ctx: &Ctx<'_>) {
        #[cfg(feature = "tracing")]
        trace(&event, ctx);
        keep_last(&mut self.life().events, event);
    }

    /// The report's panic list and events.
    pub(crate) fn history(&mut self) -> (Vec<String>, Vec<Event>) {
        match self.life.as_mut() {
            Some(life) => (
                core::mem::take(&mut life.panics).into(),
                core::mem::take(&mut life.events).into(),
            ),
            None => (Vec::new(), Vec::new()),
        }
    }

    /// The current instance failed: `panic` says how if it panicked,
    /// `poison` is the message it panicked on (if the lane keeps one for
    /// the dead-letter outbox). Decides between a rollback, a restart (now
    /// or after a backoff), giving up, and leaving as an unsupervised
    /// plugin would (then the instance stays for the lane's exit).
    pub(crate) fn failed(
        &mut self,
        failure: Failure,
        panic: Option<String>,
        poison: Option<&Message<M>>,
        ctx: &mut Ctx<'_>,
    ) -> After {
        if let Some(text) = &panic {
            self.note_panic(text);
        }
        if let (Failure::Panicked, Some(text)) = (failure, &panic) {
            if self.roll_back(text, poison, ctx) {
                return After::Go;
            }
        }
        self.release_kept();
        let now = self.now();
        let decision = match self.life.as_mut().and_then(|l| l.supervisor.as_mut()) {
            Some(supervisor) => supervisor.decide(failure, now),
            None => Decision::Leave,
        };
        let leaving = match failure {
            Failure::Detached(status) => Exit::Detached(status),
            Failure::Panicked | Failure::RestartFailed => Exit::Panicked,
        };
        if decision == Decision::Leave {
            return After::Leave(leaving);
        }
        if let Some(text) = &panic {
            self.dead_letter(text, poison, ctx);
        }
        if let Some(old) = self.current.take() {
            self.dispose(old, leaving);
        }
        match decision {
            Decision::GiveUp { failures, period } => {
                self.event(Event::GaveUp { failures, period }, ctx);
                After::Leave(Exit::GaveUp)
            }
            Decision::Restart { at } => {
                self.life().cause = panic;
                match at {
                    Some(at) if !ctx.hurry => {
                        self.life().restart_at = Some(at);
                        After::Wait(at)
                    }
                    _ => self.start(ctx),
                }
            }
            Decision::Leave => After::Leave(leaving),
        }
    }

    /// Ends a backoff: builds the next instance now.
    pub(crate) fn resume(&mut self, ctx: &mut Ctx<'_>) -> After {
        self.life().restart_at = None;
        self.start(ctx)
    }

    /// Builds and starts a new instance with the factory; a failure counts
    /// against the intensity and is tried again (at most as often as the
    /// intensity allows restarts, so a factory that always fails ends even
    /// with a period of zero).
    fn start(&mut self, ctx: &mut Ctx<'_>) -> After {
        let life = self.life();
        let attempts = life
            .supervisor
            .as_ref()
            .map_or(1, |s| s.limit().saturating_add(1));
        for _ in 0..attempts {
            let life = self.life();
            let Some(factory) = life.factory.as_mut() else {
                return After::Leave(Exit::Panicked);
            };
            let reason = match guard(|| factory.make()) {
                Ok(Ok(mut plugin)) => match guard(|| plugin.plugin().on_attach(ctx.id)) {
                    Ok(()) => {
                        self.current = Some(plugin);
                        ctx.counters.add(Lifecycle::Restart);
                        let panic = self.life().cause.take();
                        self.event(Event::Restarted { panic }, ctx);
                        return After::Go;
                    }
                    Err(panic) => {
                        self.note_panic(&panic);
                        self.drop_guarded(plugin);
                        panic
                    }
                },
                Ok(Err(reason)) => reason,
                Err(panic) => {
                    self.note_panic(&panic);
                    panic
                }
            };
            self.event(Event::RestartFailed { reason }, ctx);
            let now = self.now();
            let decision = match self.life().supervisor.as_mut() {
                Some(supervisor) => supervisor.decide(Failure::RestartFailed, now),
                None => Decision::Leave,
            };
            match decision {
                Decision::Restart { at: Some(at) } if !ctx.hurry => {
                    self.life().restart_at = Some(at);
                    return After::Wait(at);
                }
                Decision::Restart { .. } => {}
                Decision::GiveUp { failures, period } => {
                    self.event(Event::GaveUp { failures, period }, ctx);
                    return After::Leave(Exit::GaveUp);
                }
                Decision::Leave => return After::Leave(Exit::Panicked),
            }
        }
        let period = self
            .life()
            .supervisor
            .as_ref()
            .map_or(Duration::ZERO, Supervisor::period);
        self.event(
            Event::GaveUp {
                failures: u32::try_from(attempts).unwrap_or(u32::MAX),
                period,
            },
            ctx,
        );
        After::Leave(Exit::GaveUp)
    }

    /// Puts the kept instance back if the current one, a replacement,
    /// panicked within its first messages.
    fn roll_back(&mut self, panic: &str, poison: Option<&Message<M>>, ctx: &mut Ctx<'_>) -> bool {
        let received = ctx.local.received;
        let Some(life) = self.life.as_mut() else {
            return false;
        };
        let Some(kept) = life.kept.take() else {
            return false;
        };
        if received > kept.until {
            life.kept = Some(kept);
            return false;
        }
        if kept.factory.is_some() {
            life.factory = kept.factory;
        }
        self.dead_letter(panic, poison, ctx);
        if let Some(new) = self.current.replace(kept.instance) {
            self.drop_guarded(new);
        }
        ctx.counters.add(Lifecycle::RolledBack);
        self.event(
            Event::RolledBack {
                panic: String::from(panic),
            },
            ctx,
        );
        true
    }

    /// Ends the rollback window once the current instance has taken its
    /// messages. Called by the lane after each batch.
    pub(crate) fn taken(&mut self, ctx: &Ctx<'_>) {
        let ended = self
            .life
            .as_ref()
            .and_then(|life| life.kept.as_ref())
            .is_some_and(|kept| ctx.local.received >= kept.until);
        if ended {
            self.release_kept();
        }
    }

    fn release_kept(&mut self) {
        if let Some(kept) = self.life.as_mut().and_then(|life| life.kept.take()) {
            self.dispose(kept.instance, Exit::Replaced);
        }
    }

    /// An instance leaves: its `on_detach` hears `exit` unless it
    /// panicked, then it is dropped. Panics are noted, not raised.
    fn dispose(&mut self, mut old: Erased<M>, exit: Exit) {
        if exit != Exit::Panicked {
            if let Err(panic) = guard(|| old.plugin().on_detach(exit)) {
                self.note_panic(&panic);
            }
        }
        self.drop_guarded(old);
    }

    fn drop_guarded(&mut self, old: Erased<M>) {
        if let Err(panic) = guard(move || drop(old)) {
            self.note_panic(&panic);
        }
    }

    fn dead_letter(&mut self, panic: &str, poison: Option<&Message<M>>, ctx: &mut Ctx<'_>) {
        ctx.counters.add(Lifecycle::DeadLettered);
        let outbox = self.life.as_ref().and_then(|l| l.dead_letters.as_ref());
        if let (Some(outbox), Some(message)) = (outbox, poison) {
            // A full outbox counts the letter as its own drop.
            let _ = outbox.send(DeadLetter {
                plugin: ctx.id,
                message: message.clone(),
                panic: String::from(panic),
            });
        }
    }

    /// Swaps in a replacement (between two batches). The old instance
    /// exports its state, the new one imports it and starts; if the new one
    /// panics doing so it is dropped and the old one runs on. Settles the
    /// control's outcome either way.
    pub(crate) fn replace(&mut self, control: Control<M>, ctx: &mut Ctx<'_>) {
        let Control {
            replacement,
            outcome,
        } = control;
        let Replacement {
            instance: mut new,
            factory,
            rollback,
        } = replacement;
        self.release_kept();
        let mut old = self.current.take();
        let mut handover = Handover::Nothing;
        let state = match old
            .as_mut()
            .map(|old| guard(|| old.plugin().export_state()))
        {
            None | Some(Ok(None)) => None,
            Some(Ok(Some(state))) => Some(state),
            Some(Err(panic)) => {
                self.note_panic(&panic);
                self.event(
                    Event::StatePanicked {
                        panic: panic.clone(),
                    },
                    ctx,
                );
                handover = Handover::ExportPanicked(panic);
                None
            }
        };
        if let Some(state) = state {
            match guard(|| new.plugin().import_state(&state)) {
                Ok(Ok(())) => {
                    handover = Handover::Taken {
                        version: state.version(),
                    };
                }
                Ok(Err(refused)) => {
                    self.event(Event::StateRefused(refused.clone()), ctx);
                    handover = Handover::Refused(refused);
                }
                Err(panic) => return self.refuse(new, old, panic, &outcome, ctx),
            }
        }
        if let Err(panic) = guard(|| new.plugin().on_attach(ctx.id)) {
            return self.refuse(new, old, panic, &outcome, ctx);
        }
        self.current = Some(new);
        let life = self.life();
        let previous = match factory {
            Some(factory) => life.factory.replace(factory),
            None => None,
        };
        if let Some(old) = old {
            if rollback > 0 {
                self.life().kept = Some(Kept {
                    instance: old,
                    until: ctx.local.received.saturating_add(rollback),
                    factory: previous,
                });
            } else {
                self.dispose(old, Exit::Replaced);
            }
        }
        let life = self.life();
        life.restart_at = None;
        life.cause = None;
        ctx.counters.add(Lifecycle::Replaced);
        self.event(Event::Replaced, ctx);
        outcome.settle(Ok(Replaced {
            id: ctx.id,
            state: handover,
        }));
    }

    fn refuse(
        &mut self,
        new: Erased<M>,
        old: Option<Erased<M>>,
        panic: String,
        outcome: &Outcome,
        ctx: &Ctx<'_>,
    ) {
        self.note_panic(&panic);
        #[cfg(feature = "tracing")]
        tracing::warn!(
            target: "plugbus",
            plugin = ctx.name,
            id = ctx.id.get(),
            panic = %panic,
            "plugin replacement panicked as it started; the old instance runs on"
        );
        self.drop_guarded(new);
        self.current = old;
        outcome.settle(Err(ReplaceError::Panicked { id: ctx.id, panic }));
    }
}

/// Raises a lifecycle event through the `tracing` facade (target
/// `plugbus`, fields `plugin`, `id` and `event`, the event as its report
/// prints it), at the moment the lane records it: ERROR when the lane gave
/// up, INFO for a replacement, WARN for the rest. It goes to the default
/// subscriber of the thread the lane runs on; the std-based hosts run each
/// lane under the subscriber that was the default where it was attached.
#[cfg(feature = "tracing")]
fn trace(event: &Event, ctx: &Ctx<'_>) {
    let (plugin, id) = (ctx.name, ctx.id.get());
    match event {
        Event::GaveUp { .. } => {
            tracing::error!(target: "plugbus", plugin, id, event = %event, "plugin gave up");
        }
        Event::Restarted { .. } => {
            tracing::warn!(target: "plugbus", plugin, id, event = %event, "plugin restarted");
        }
        Event::RestartFailed { .. } => {
            tracing::warn!(target: "plugbus", plugin, id, event = %event, "plugin restart failed");
        }
        Event::Replaced => {
            tracing::info!(target: "plugbus", plugin, id, event = %event, "plugin replaced");
        }
        Event::StateRefused(_) | Event::StatePanicked { .. } => {
            tracing::warn!(target: "plugbus", plugin, id, event = %event, "plugin started fresh");
        }
        Event::RolledBack { .. } => {
            tracing::warn!(target: "plugbus", plugin, id, event = %event, "plugin rolled back");
        }
    }
}

impl<M: Send + Sync + 'static> fmt::Debug for Instances<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instances")
            .field("running", &self.current.is_some())
            .field("restart_at", &self.restart_at())
            .finish_non_exhaustive()
    }
}
