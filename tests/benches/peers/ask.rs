//! Request and response (`ask`): one question to 16 plugins, every answer
//! collected, repeated; p50 and p99 of the round trip in microseconds.
//!
//! The baseline is what a tokio user wires by hand: a `broadcast` channel
//! to 16 plugin tasks, a question carrying the `mpsc::Sender` its answers
//! go to (a fresh channel per question, so a late answer cannot reach the
//! next one, as with `ask`), collected under `tokio::time::timeout`. The
//! asking thread is the main thread in `block_on`, on a multi-thread runtime
//! with 2 workers, for it and for plugbus's tokio host. Every round checks
//! that every plugin answered with the value it should; a missing or wrong
//! answer fails the run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use plugbus_core::ask::{Answers, Request};
use plugbus_core::{Flow, LocalHost, Message, Plugin, PluginId};
use tokio::runtime::{Builder, Runtime};
use tokio::sync::{broadcast, mpsc};

use crate::failure::Failure;
use crate::stats::percentile;
use crate::xcore::quick_round_trip_ns;

/// Plugins asked.
pub(crate) const PLUGINS: usize = 16;

/// The timeout of every question: far beyond any live round, so only a
/// lost answer reaches it (and fails the run).
const TIMEOUT: Duration = Duration::from_secs(10);

/// The message type of the plugbus hosts.
pub(crate) enum Quiz {
    Ask(Request<u64, u64>),
}

/// Answers `question + offset`.
struct Answerer {
    offset: u64,
    id: Option<PluginId>,
}

impl Plugin<Quiz> for Answerer {
    fn on_attach(&mut self, id: PluginId) {
        self.id = Some(id);
    }
    fn handle_message(&mut self, message: &Message<Quiz>) -> Flow {
        let Quiz::Ask(request) = &**message;
        if let Some(id) = self.id {
            let _ = request.answer(id, request.question() + self.offset);
        }
        Flow::Continue
    }
}

fn answerers() -> impl Iterator<Item = Answerer> {
    (0..PLUGINS as u64).map(|offset| Answerer { offset, id: None })
}

/// Checks that every plugin answered `question + its offset`: the answers'
/// sum and count.
fn check(name: &str, question: u64, got: usize, sum: u64) -> Result<(), Failure> {
    let expected = question * PLUGINS as u64 + (0..PLUGINS as u64).sum::<u64>();
    if got != PLUGINS || sum != expected {
        return Err(Failure::Usage(format!(
            "{name}: question {question}: {got} answers summing to {sum}, expected {PLUGINS} summing to {expected}"
        )));
    }
    Ok(())
}

fn check_answers(name: &str, question: u64, answers: &Answers<u64>) -> Result<(), Failure> {
    if !answers.is_complete() {
        return Err(Failure::Usage(format!("{name}: incomplete: {answers:?}")));
    }
    check(
        name,
        question,
        answers.len(),
        answers.iter().map(|a| **a).sum(),
    )
}

fn runtime() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a tokio runtime starts")
}

/// One implementation under test: asks question `n` and checks the answers.
trait Asker {
    fn ask(&mut self, question: u64) -> Result<(), Failure>;
}

/// The baseline: `broadcast` out, an `mpsc` per question back.
struct ByHand {
    runtime: Runtime,
    questions: broadcast::Sender<Arc<(u64, mpsc::Sender<u64>)>>,
}

impl ByHand {
    const NAME: &'static str = "tokio broadcast+mpsc (by hand)";

    fn new() -> Self {
        let runtime = runtime();
        let (questions, _) = broadcast::channel::<Arc<(u64, mpsc::Sender<u64>)>>(64);
        for offset in 0..PLUGINS as u64 {
            let mut receiver = questions.subscribe();
            runtime.spawn(async move {
                while let Ok(question) = receiver.recv().await {
                    let (n, reply) = &*question;
                    let _ = reply.send(n + offset).await;
                }
            });
        }
        ByHand { runtime, questions }
    }
}

impl Asker for ByHand {
    fn ask(&mut self, question: u64) -> Result<(), Failure> {
        let questions = &self.questions;
        let (got, sum) = self.runtime.block_on(async {
            let (reply, mut answers) = mpsc::channel(PLUGINS);
            questions
                .send(Arc::new((question, reply)))
                .expect("the plugin tasks live");
            let mut got = 0;
            let mut sum = 0;
            let _ = tokio::time::timeout(TIMEOUT, async {
                while got < PLUGINS {
                    match answers.recv().await {
                        Some(answer) => {
                            got += 1;
                            sum += answer;
                        }
                        None => break,
                    }
                }
            })
            .await;
            (got, sum)
        });
        check(Self::NAME, question, got, sum)
    }
}

struct TokioAsk {
    runtime: Runtime,
    host: Option<plugbus_host_tokio::Host<Quiz>>,
}

impl TokioAsk {
    const NAME: &'static str = "plugbus tokio (ask)";

    fn new() -> Self {
        let runtime = runtime();
        let host = plugbus_host_tokio::Host::on(runtime.handle().clone());
        for plugin in answerers() {
            host.attach(plugin).expect("attach");
        }
        TokioAsk {
            runtime,
            host: Some(host),
        }
    }
}

impl Asker for TokioAsk {
    fn ask(&mut self, question: u64) -> Result<(), Failure> {
        let host = self.host.as_ref().expect("not shut down");
        let answers = self
            .runtime
            .block_on(host.ask(Quiz::Ask, question, TIMEOUT))
            .map_err(|e| Failure::Usage(format!("{}: {e}", Self::NAME)))?;
        check_answers(Self::NAME, question, &answers)
    }
}

impl Drop for TokioAsk {
    fn drop(&mut self) {
        if let Some(host) = self.host.take() {
            drop(host.shutdown_blocking());
        }
    }
}

struct ThreadsAsk(plugbus_host_std::Host<Quiz>);

impl ThreadsAsk {
    const NAME: &'static str = "plugbus threads (ask)";

    fn new() -> Self {
        let host = plugbus_host_std::Host::new();
        for plugin in answerers() {
            host.attach(plugin).expect("attach");
        }
        ThreadsAsk(host)
    }
}

impl Asker for ThreadsAsk {
    fn ask(&mut self, question: u64) -> Result<(), Failure> {
        let answers = self
            .0
            .ask(Quiz::Ask, question, TIMEOUT)
            .map_err(|e| Failure::Usage(format!("{}: {e}", Self::NAME)))?;
        check_answers(Self::NAME, question, &answers)
    }
}

struct SmolAsk(plugbus_host_smol::Host<'static, Quiz>);

impl SmolAsk {
    const NAME: &'static str = "plugbus smol (ask)";

    fn new() -> Self {
        let host = plugbus_host_smol::Builder::new()
            .threads(2)
            .build()
            .expect("start a smol executor");
        for plugin in answerers() {
            host.attach(plugin).expect("attach");
        }
        SmolAsk(host)
    }
}

impl Asker for SmolAsk {
    fn ask(&mut self, question: u64) -> Result<(), Failure> {
        let answers = futures_lite::future::block_on(self.0.ask(Quiz::Ask, question, TIMEOUT))
            .map_err(|e| Failure::Usage(format!("{}: {e}", Self::NAME)))?;
        check_answers(Self::NAME, question, &answers)
    }
}

struct LocalAsk(LocalHost<Quiz>);

impl LocalAsk {
    const NAME: &'static str = "plugbus LocalHost (ask)";

    fn new() -> Self {
        let host = LocalHost::new();
        for plugin in answerers() {
            host.attach(plugin).expect("attach");
        }
        LocalAsk(host)
    }
}

impl Asker for LocalAsk {
    fn ask(&mut self, question: u64) -> Result<(), Failure> {
        let answers = self
            .0
            .ask(Quiz::Ask, question, TIMEOUT)
            .map_err(|e| Failure::Usage(format!("{}: {e}", Self::NAME)))?;
        check_answers(Self::NAME, question, &answers)
    }
}

/// Makes an implementation, ready to ask.
type Make = fn() -> Box<dyn Asker>;

/// The implementations, baseline first.
fn askers() -> Vec<(&'static str, Make)> {
    vec![
        (ByHand::NAME, || Box::new(ByHand::new())),
        (TokioAsk::NAME, || Box::new(TokioAsk::new())),
        (ThreadsAsk::NAME, || Box::new(ThreadsAsk::new())),
        (SmolAsk::NAME, || Box::new(SmolAsk::new())),
        (LocalAsk::NAME, || Box::new(LocalAsk::new())),
    ]
}

/// One implementation's result.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub(crate) name: &'static str,
    pub(crate) iterations: usize,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) xcore_ns: f64,
}

/// Asks `iterations` timed questions (after a tenth as many untimed ones).
/// Returns the rounds in µs.
fn run_once(make: Make, iterations: usize) -> Result<Vec<f64>, Failure> {
    let mut asker = make();
    let warmup = iterations / 10;
    let mut rounds = Vec::with_capacity(iterations);
    for question in 0..(warmup + iterations) as u64 {
        let start = Instant::now();
        asker.ask(question)?;
        if question >= warmup as u64 {
            rounds.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    Ok(rounds)
}

/// Runs every implementation; prints a line per implementation to stderr
/// as it goes.
pub(crate) fn run(iterations: usize) -> Result<Vec<Point>, Failure> {
    let mut points = Vec::new();
    for (name, make) in askers() {
        let xcore_ns = quick_round_trip_ns();
        let mut rounds = run_once(make, iterations)?;
        let point = Point {
            name,
            iterations,
            p50_us: percentile(&mut rounds, 0.50),
            p99_us: percentile(&mut rounds, 0.99),
            xcore_ns,
        };
        eprintln!(
            "ask {:<32} P={PLUGINS} p50 {:>8.2} us  p99 {:>8.2} us  xcore {:.0} ns",
            point.name, point.p50_us, point.p99_us, point.xcore_ns
        );
        points.push(point);
    }
    Ok(points)
}

/// The table and the `bench ask` lines, with ratios to the baseline (the
/// first point).
pub(crate) fn report(points: &[Point]) -> String {
    let Some(base) = points.first() else {
        return String::new();
    };
    let mut out = format!(
        "\n### ask: one question to {PLUGINS} plugins, all answers collected (round trip, µs)\n\n\
         | implementation | p50 | p99 | p50 / baseline | p99 / baseline |\n|---|---|---|---|---|\n"
    );
    for p in points {
        out += &format!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
            p.name,
            p.p50_us,
            p.p99_us,
            p.p50_us / base.p50_us,
            p.p99_us / base.p99_us
        );
    }
    out.push('\n');
    for p in points {
        out += &format!(
            "bench ask impl={} plugins={PLUGINS} iterations={} p50_us={:.2} p99_us={:.2} ratio_p50_to_baseline={:.3} ratio_p99_to_baseline={:.3} xcore_ns={:.1}\n",
            p.name.replace(' ', "_"),
            p.iterations,
            p.p50_us,
            p.p99_us,
            p.p50_us / base.p50_us,
            p.p99_us / base.p99_us,
            p.xcore_ns
        );
    }
    out
}

/// The smoke check: every implementation answers a few questions, checked.
pub(crate) fn smoke() -> Vec<(String, Result<(), Failure>)> {
    askers()
        .into_iter()
        .map(|(name, make)| (format!("ask {name}"), run_once(make, 20).map(drop)))
        .collect()
}
