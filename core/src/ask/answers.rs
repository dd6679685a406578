//! What a question collected: the answers, each with its plugin, and who
//! timed out, declined or panicked.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Deref;

use super::reply::Shared;
use crate::message::Message;
use crate::plugin::PluginId;

/// One plugin's answer: the plugin and the value it answered.
///
/// The value is the plugin's own envelope: reading it costs nothing, and
/// dropping it frees it with the allocator of the binary that made it (a
/// dynamic plugin's, which it keeps loaded until then).
pub struct Answer<A> {
    plugin: PluginId,
    value: Message<A>,
}

impl<A> Answer<A> {
    pub(crate) fn new(plugin: PluginId, value: Message<A>) -> Self {
        Answer { plugin, value }
    }

    /// The plugin that answered.
    pub fn plugin(&self) -> PluginId {
        self.plugin
    }

    /// The answer's envelope.
    pub fn into_message(self) -> Message<A> {
        self.value
    }
}

impl<A> Deref for Answer<A> {
    type Target = A;
    fn deref(&self) -> &A {
        &self.value
    }
}

impl<A: fmt::Debug> fmt::Debug for Answer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answer")
            .field("plugin", &self.plugin)
            .field("value", &*self.value)
            .finish()
    }
}

/// The outcome of a question: one entry for every plugin that was attached
/// when it was sent (or that got it while it was being sent), in exactly
/// one of [`iter`](Answers::iter) (it answered), [`declined`] (its filter
/// declined the question, or its handler returned without answering or
/// deferring), [`timed_out`] (it had not finished with the question by the
/// deadline: still busy, behind, holding an unused
/// [`Responder`](super::Responder), or gone from the host) and
/// [`panicked`] (its filter or handler panicked on the question; a plugin
/// that answered and then panicked is in both lists).
///
/// [`declined`]: Answers::declined
/// [`timed_out`]: Answers::timed_out
/// [`panicked`]: Answers::panicked
///
/// # Example
/// ```
/// use std::time::Duration;
/// use plugbus_core::ask::Request;
/// use plugbus_core::{Flow, LocalHost, Message, Plugin, PluginId};
///
/// struct Doubler(Option<PluginId>);
/// impl Plugin<Request<u32, u32>> for Doubler {
///     fn on_attach(&mut self, id: PluginId) {
///         self.0 = Some(id);
///     }
///     fn handle_message(&mut self, request: &Message<Request<u32, u32>>) -> Flow {
///         if let Some(id) = self.0 {
///             let _ = request.answer(id, request.question() * 2);
///         }
///         Flow::Continue
///     }
/// }
///
/// let mut host = LocalHost::new();
/// let id = host.attach(Doubler(None)).unwrap();
/// let answers = host.ask(|request| request, 21, Duration::from_secs(1)).unwrap();
/// assert_eq!(answers.get(id), Some(&42));
/// assert!(answers.is_complete());
/// ```
pub struct Answers<A> {
    answers: Vec<Answer<A>>,
    timed_out: Vec<PluginId>,
    declined: Vec<PluginId>,
    panicked: Vec<(PluginId, String)>,
    shared: Arc<Shared<A>>,
}

impl<A: Send + Sync + 'static> Answers<A> {
    pub(crate) fn new(
        answers: Vec<Answer<A>>,
        timed_out: Vec<PluginId>,
        declined: Vec<PluginId>,
        panicked: Vec<(PluginId, String)>,
        shared: Arc<Shared<A>>,
    ) -> Self {
        Answers {
            answers,
            timed_out,
            declined,
            panicked,
            shared,
        }
    }

    /// How many plugins answered.
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    /// Whether no plugin answered.
    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    /// The answers, in the order they came.
    pub fn iter(&self) -> core::slice::Iter<'_, Answer<A>> {
        self.answers.iter()
    }

    /// The answer of `plugin`, if it answered.
    pub fn get(&self, plugin: PluginId) -> Option<&A> {
        self.answers
            .iter()
            .find(|a| a.plugin == plugin)
            .map(|a| &*a.value)
    }

    /// Plugins that had not finished with the question by the deadline, by
    /// id. Answers they give later are refused and counted in
    /// [`late`](Answers::late).
    pub fn timed_out(&self) -> &[PluginId] {
        &self.timed_out
    }

    /// Plugins that let the question pass without answering, by id.
    pub fn declined(&self) -> &[PluginId] {
        &self.declined
    }

    /// Plugins that panicked on the question, with the panic's message, in
    /// the order their lanes reported it. Their lanes handle the panic as
    /// any other (the plugin is detached and its report says so).
    pub fn panicked(&self) -> impl Iterator<Item = (PluginId, &str)> {
        self.panicked.iter().map(|(id, text)| (*id, text.as_str()))
    }

    /// Whether nobody timed out or panicked.
    pub fn is_complete(&self) -> bool {
        self.timed_out.is_empty() && self.panicked.is_empty()
    }

    /// How many answers to this question were refused so far because they
    /// came after it closed for their plugin (after the deadline, or after
    /// the plugin had declined it). It grows while plugins still answer;
    /// such answers are dropped, never given to another question.
    pub fn late(&self) -> u64 {
        self.shared.late()
    }

    /// The answers, in the order they came.
    pub fn into_vec(self) -> Vec<Answer<A>> {
        self.answers
    }
}

impl<A: Send + Sync + 'static> IntoIterator for Answers<A> {
    type Item = Answer<A>;
    type IntoIter = alloc::vec::IntoIter<Answer<A>>;
    fn into_iter(self) -> Self::IntoIter {
        self.answers.into_iter()
    }
}

impl<'a, A: Send + Sync + 'static> IntoIterator for &'a Answers<A> {
    type Item = &'a Answer<A>;
    type IntoIter = core::slice::Iter<'a, Answer<A>>;
    fn into_iter(self) -> Self::IntoIter {
        self.answers.iter()
    }
}

impl<A> fmt::Debug for Answers<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let answered: Vec<PluginId> = self.answers.iter().map(|a| a.plugin).collect();
        f.debug_struct("Answers")
            .field("answered", &answered)
            .field("timed_out", &self.timed_out)
            .field("declined", &self.declined)
            .field("panicked", &self.panicked)
            .finish_non_exhaustive()
    }
}
