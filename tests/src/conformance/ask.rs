//! Request and response on every host: the plugins that answer, decline,
//! hold on, answer late or panic, and the question's [`Answers`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use plugbus_commands::Command;
use plugbus_core::ask::{AnswerError, Answers, Request, Responder};
use plugbus_core::{Exit, Flow, Message, Plugin, PluginId};

use crate::dylib::load_command_plugin;

use super::scenarios::{PATIENCE, report, wait_until};
use super::{Family, TestHost};

/// The timeout of the questions that some plugin does not answer in time:
/// long enough for every other plugin to answer on a loaded machine (the
/// scenarios check that they did), short enough to wait out.
const SHORT: Duration = Duration::from_millis(300);

/// The message type of these scenarios.
#[derive(Debug)]
pub enum Quiz {
    /// Counted by every plugin.
    Tick,
    /// A question: a number; the answer says who saw what.
    Ask(Request<u64, u64>),
}

/// How a [`Player`] treats a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// Answers `question + 1000 * ticks + offset`.
    Answer(u64),
    /// Answers like `Answer`, then once more (refused as a duplicate).
    Twice(u64),
    /// Handles the question and says nothing.
    Silent,
    /// Its filter declines questions.
    Filter,
    /// Takes a responder and keeps it unused until it leaves.
    Hold,
    /// Defers its first question; answers it (late) when the next one
    /// comes, then answers that one at once.
    LateOnce,
    /// Sleeps in its handler for this long, then answers.
    Slow(Duration),
    /// Panics while answering.
    Panic,
}

/// What players report back: the errors their answers got.
#[derive(Debug, Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, line: String) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }

    fn get(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

struct Player {
    style: Style,
    id: Option<PluginId>,
    ticks: u64,
    held: Vec<Responder<u64>>,
    stashed: Option<Responder<u64>>,
    log: Log,
}

impl Player {
    fn new(style: Style, log: &Log) -> Self {
        Player {
            style,
            id: None,
            ticks: 0,
            held: Vec::new(),
            stashed: None,
            log: log.clone(),
        }
    }

    fn value(&self, question: u64, offset: u64) -> u64 {
        question + 1000 * self.ticks + offset
    }

    fn note(&self, what: &str, result: Result<(), AnswerError<u64>>) {
        if let Err(error) = result {
            let kind = match error {
                AnswerError::Late(_) => "late",
                AnswerError::Duplicate(_) => "duplicate",
                _ => "other",
            };
            self.log
                .push(format!("{what}: {kind} {}", error.into_inner()));
        }
    }
}

impl Plugin<Quiz> for Player {
    fn on_attach(&mut self, id: PluginId) {
        self.id = Some(id);
    }

    fn wants(&self, message: &Quiz) -> bool {
        !(self.style == Style::Filter && matches!(message, Quiz::Ask(_)))
    }

    fn handle_message(&mut self, message: &Message<Quiz>) -> Flow {
        let request = match &**message {
            Quiz::Tick => {
                self.ticks += 1;
                return Flow::Continue;
            }
            Quiz::Ask(request) => request,
        };
        let id = self.id.expect("on_attach ran first");
        let question = *request.question();
        match self.style {
            Style::Answer(offset) => {
                self.note("answer", request.answer(id, self.value(question, offset)))
            }
            Style::Twice(offset) => {
                let value = self.value(question, offset);
                self.note("first", request.answer(id, value));
                self.note("second", request.answer(id, value + 1));
            }
            Style::Silent | Style::Filter => {}
            Style::Hold => self.held.push(request.defer(id)),
            Style::LateOnce => match self.stashed.take() {
                None => self.stashed = Some(request.defer(id)),
                Some(earlier) => {
                    self.note("stashed", earlier.answer(question * 100));
                    self.note("current", request.answer(id, question));
                }
            },
            Style::Slow(delay) => {
                std::thread::sleep(delay);
                self.note("slow", request.answer(id, question));
            }
            Style::Panic => panic!("panic while answering question {question}"),
        }
        Flow::Continue
    }
}

fn players<F: Family>(host: &mut F::Host<Quiz>, styles: &[Style], log: &Log) -> Vec<PluginId> {
    styles
        .iter()
        .map(|&style| {
            host.attach(Player::new(style, log))
                .unwrap_or_else(|e| panic!("{}: attach: {e}", F::NAME))
        })
        .collect()
}

/// The answers as (plugin, value), by plugin.
fn by_plugin(answers: &Answers<u64>) -> Vec<(PluginId, u64)> {
    let mut all: Vec<_> = answers.iter().map(|a| (a.plugin(), **a)).collect();
    all.sort_unstable();
    all
}

/// Sixteen plugins answer, each tagged with its id and after the messages
/// sent before the question; one answers twice (the second is refused),
/// one stays silent and one filters questions out (both declined, not
/// waited for). Through `ask` and the blocking twin.
pub fn ask_all_answer<F: Family>() {
    let mut host = F::host::<Quiz>(64);
    let log = Log::default();
    let mut styles: Vec<Style> = (0..16).map(Style::Answer).collect();
    styles[15] = Style::Twice(15);
    styles.push(Style::Silent);
    styles.push(Style::Filter);
    let ids = players::<F>(&mut host, &styles, &log);
    for _ in 0..3 {
        host.send(Quiz::Tick).unwrap();
    }
    for (round, question) in [(0, 7_u64), (1, 8)] {
        // The patience is only a bound: every plugin settles, so `ask`
        // returns once they have (a plugin waited for would be listed in
        // `timed_out`).
        let answers = if round == 0 {
            host.ask(Quiz::Ask, question, PATIENCE)
        } else {
            host.ask_blocking(Quiz::Ask, question, PATIENCE)
        }
        .unwrap_or_else(|e| panic!("{}: ask: {e}", F::NAME));
        let expected: Vec<_> = ids[..16]
            .iter()
            .zip(0..)
            .map(|(&id, offset)| (id, question + 3000 + offset))
            .collect();
        assert_eq!(by_plugin(&answers), expected, "{}: round {round}", F::NAME);
        assert_eq!(answers.get(ids[3]), Some(&(question + 3003)), "{}", F::NAME);
        assert_eq!(answers.declined(), &ids[16..], "{}: round {round}", F::NAME);
        assert_eq!(answers.timed_out(), [], "{}: round {round}", F::NAME);
        assert_eq!(answers.panicked().count(), 0, "{}", F::NAME);
        assert!(answers.is_complete(), "{}", F::NAME);
        assert_eq!(answers.late(), 0, "{}", F::NAME);
    }
    assert_eq!(
        log.get(),
        ["second: duplicate 3023", "second: duplicate 3024"],
        "{}",
        F::NAME
    );
    let reports = host.shutdown();
    for &id in &ids {
        let stats = report(&reports, id).stats;
        assert_eq!(stats.received, 5, "{}: {id}", F::NAME);
    }
    let filtering = report(&reports, ids[17]).stats;
    assert_eq!(
        (filtering.handled, filtering.filtered),
        (3, 2),
        "{}",
        F::NAME
    );
}

/// A plugin that takes a responder and never answers is named at the
/// timeout; one that answers is not held up by it, and the responder
/// dropped later (at shutdown) changes nothing.
pub fn ask_timeout_names_who_did_not_answer<F: Family>() {
    let mut host = F::host::<Quiz>(64);
    let log = Log::default();
    let ids = players::<F>(&mut host, &[Style::Answer(0), Style::Hold], &log);
    let answers = host
        .ask(Quiz::Ask, 5, SHORT)
        .unwrap_or_else(|e| panic!("{}: ask: {e}", F::NAME));
    assert_eq!(by_plugin(&answers), [(ids[0], 5)], "{}", F::NAME);
    assert_eq!(answers.timed_out(), [ids[1]], "{}", F::NAME);
    assert_eq!(answers.declined(), [], "{}", F::NAME);
    assert!(!answers.is_complete(), "{}", F::NAME);
    let reports = host.shutdown();
    assert_eq!(answers.late(), 0, "{}", F::NAME);
    assert_eq!(report(&reports, ids[1]).exit, Exit::Shutdown, "{}", F::NAME);
    assert_eq!(log.get(), Vec::<String>::new(), "{}", F::NAME);
}

/// Answers after the timeout are refused, counted on their own question,
/// and never given to the next one: a plugin that answers its deferred
/// question while it handles the next, and one that is busy in its handler
/// past the deadline.
pub fn ask_late_answers_are_dropped<F: Family>() {
    let mut host = F::host::<Quiz>(64);
    let log = Log::default();
    let ids = players::<F>(&mut host, &[Style::Answer(0), Style::LateOnce], &log);
    let first = host
        .ask(Quiz::Ask, 1, SHORT)
        .unwrap_or_else(|e| panic!("{}: ask 1: {e}", F::NAME));
    assert_eq!(by_plugin(&first), [(ids[0], 1)], "{}", F::NAME);
    assert_eq!(first.timed_out(), [ids[1]], "{}", F::NAME);
    // The late plugin answers the first question (with 200) while it handles
    // the second, then answers the second (with 2).
    let second = host
        .ask(Quiz::Ask, 2, PATIENCE)
        .unwrap_or_else(|e| panic!("{}: ask 2: {e}", F::NAME));
    assert_eq!(
        by_plugin(&second),
        [(ids[0], 2), (ids[1], 2)],
        "{}",
        F::NAME
    );
    assert_eq!(
        (first.late(), second.late()),
        (1, 0),
        "{}: late answers counted on their own question",
        F::NAME
    );
    assert_eq!(log.get(), ["stashed: late 200"], "{}", F::NAME);
    drop(host.shutdown());

    // Busy in its handler past the deadline, then answering.
    let mut host = F::host::<Quiz>(64);
    let log = Log::default();
    let ids = players::<F>(&mut host, &[Style::Slow(SHORT * 2)], &log);
    let answers = host
        .ask(Quiz::Ask, 3, SHORT)
        .unwrap_or_else(|e| panic!("{}: ask 3: {e}", F::NAME));
    assert_eq!(answers.len(), 0, "{}", F::NAME);
    assert_eq!(answers.timed_out(), [ids[0]], "{}", F::NAME);
    // The plugin logs its refusal after the question counted it.
    wait_until::<F, _>(&mut host, "the slow plugin's late answer", |_| {
        answers.late() == 1 && !log.get().is_empty()
    });
    assert_eq!(log.get(), ["slow: late 3"], "{}", F::NAME);
    drop(host.shutdown());
}

/// A plugin that panics while answering is reported with its message, its
/// lane's panic handling applies (it is detached and reported), and the
/// next question no longer asks it.
pub fn ask_panic_is_reported<F: Family>() {
    let mut host = F::host::<Quiz>(64);
    let log = Log::default();
    let ids = players::<F>(&mut host, &[Style::Answer(0), Style::Panic], &log);
    let answers = host
        .ask(Quiz::Ask, 4, PATIENCE)
        .unwrap_or_else(|e| panic!("{}: ask: {e}", F::NAME));
    assert_eq!(by_plugin(&answers), [(ids[0], 4)], "{}", F::NAME);
    assert_eq!(
        answers.panicked().collect::<Vec<_>>(),
        [(ids[1], "panic while answering question 4")],
        "{}",
        F::NAME
    );
    assert_eq!(
        (answers.timed_out(), answers.declined()),
        (&[][..], &[][..]),
        "{}",
        F::NAME
    );
    assert!(!answers.is_complete(), "{}", F::NAME);
    wait_until::<F, _>(&mut host, "the panicking plugin to leave", |h| {
        h.stats(ids[1]).is_none()
    });
    let again = host
        .ask(Quiz::Ask, 5, PATIENCE)
        .unwrap_or_else(|e| panic!("{}: ask again: {e}", F::NAME));
    assert_eq!(by_plugin(&again), [(ids[0], 5)], "{}", F::NAME);
    assert!(again.is_complete(), "{}", F::NAME);
    let reports = host.shutdown();
    let panicked = report(&reports, ids[1]);
    assert_eq!(panicked.exit, Exit::Panicked, "{}", F::NAME);
    assert_eq!(
        panicked.panic.as_deref(),
        Some("panic while answering question 4"),
        "{}",
        F::NAME
    );
    assert_eq!(
        (panicked.stats.received, panicked.stats.panicked),
        (1, 1),
        "{}",
        F::NAME
    );
}

/// Plugins loaded from their libraries answer like linked ones, each with
/// its id: `concat` and `debug` answer, and `fault` panics on the question
/// (its second message) inside its library, where its thunk catches it.
pub fn ask_dynamic<F: Family>() {
    let mut host = F::host::<Command>(64);
    let mut ids = Vec::new();
    for (name, config) in [
        ("plugbus_concat", "quiet"),
        ("plugbus_debug", "quiet"),
        ("plugbus_fault", "panic-handle=2"),
    ] {
        let plugin = load_command_plugin(name, config)
            .unwrap_or_else(|e| panic!("{}: load {name}: {e}", F::NAME));
        ids.push(host.attach(plugin).unwrap());
    }
    host.send(Command::Concat(String::from("plug")))
        .unwrap_or_else(|e| panic!("{}: send: {e}", F::NAME));
    let answers = host
        .ask(Command::Summarize, (), PATIENCE)
        .unwrap_or_else(|e| panic!("{}: ask: {e}", F::NAME));
    let mut got: Vec<_> = answers
        .iter()
        .map(|a| (a.plugin(), a.plugin.clone(), a.text.clone(), a.messages))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (ids[0], "concat".into(), "plug".into(), 2),
            (
                ids[1],
                "debug".into(),
                "concat=1 clear=0 print=0 time=0 exit=0 report=1".into(),
                2
            ),
        ],
        "{}",
        F::NAME
    );
    assert_eq!(
        answers.panicked().collect::<Vec<_>>(),
        [(ids[2], "fault: panic in handle_message at message 2")],
        "{}",
        F::NAME
    );
    assert_eq!(answers.timed_out(), [], "{}", F::NAME);
    let reports = host.shutdown();
    assert_eq!(report(&reports, ids[2]).exit, Exit::Panicked, "{}", F::NAME);
    // The answers outlive the plugins that made them (their libraries stay
    // loaded until the answers are dropped).
    assert_eq!(answers.get(ids[0]).map(|s| s.text.as_str()), Some("plug"));
}
