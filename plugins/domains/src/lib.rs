//! An async log plugin: counts requests by the client's domain (the last
//! label of its host name, `.com` or `.nz`; `address` for a numeric
//! address), looking each new client up in a lookup service and awaiting
//! the answer.
//!
//! The service is a thread of the plugin's that stands in for a remote one
//! (a resolver, a GeoIP database): it answers each lookup after
//! `domains.delay` microseconds (default 200). The plugin's
//! `async fn handle_message` awaits that answer; its lane polls it again
//! when the service wakes it, and no thread of the host's waits in the
//! meantime on the async hosts. Attach it as `Async::new(..)`:
//! [`Domains::new`] returns it so.
//!
//! ```
//! use plugbus_access_log::LogEvent;
//! use plugbus_core::LocalHost;
//! use plugbus_domains::Domains;
//!
//! let mut host = LocalHost::<LogEvent>::new();
//! host.attach(Domains::new("domains.delay=1")?)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use plugbus_access_log::{ConfigError, LogEvent, Options, Summary};
use plugbus_core::{Async, AsyncPlugin, Flow, Message, PluginId};

/// A lookup and where its answer goes.
type Lookup = (String, async_channel::Sender<String>);

/// The plugin.
#[derive(Debug)]
pub struct Domains {
    id: Option<PluginId>,
    /// The service's queue; `None` once it is being shut down.
    service: Option<mpsc::Sender<Lookup>>,
    thread: Option<JoinHandle<()>>,
    known: HashMap<String, String>,
    by_domain: BTreeMap<String, u64>,
    requests: u64,
    waited: Duration,
}

impl Domains {
    /// Starts the lookup service; `domains.delay=N` makes it answer after
    /// N microseconds (default 200).
    ///
    /// # Errors
    /// A [`ConfigError`] for an unknown option or a delay that is not a
    /// positive number.
    pub fn new(config: &str) -> Result<Async<Domains>, ConfigError> {
        let options = Options::parse(config, "domains", &["delay"])?;
        let delay = Duration::from_micros(options.number("delay", 200)?);
        let (service, lookups) = mpsc::channel::<Lookup>();
        let thread = std::thread::Builder::new()
            .name("plugbus-domains-lookup".into())
            .spawn(move || {
                for (client, answer) in lookups {
                    std::thread::sleep(delay);
                    // The plugin may have stopped waiting (shut down).
                    let _ = answer.send_blocking(domain(&client));
                }
            })
            .ok();
        Ok(Async::new(Domains {
            id: None,
            service: thread.as_ref().map(|_| service),
            thread,
            known: HashMap::new(),
            by_domain: BTreeMap::new(),
            requests: 0,
            waited: Duration::ZERO,
        }))
    }

    /// Looks `client` up: from what it learnt, or from the service.
    async fn lookup(&mut self, client: &str) -> String {
        if let Some(domain) = self.known.get(client) {
            return domain.clone();
        }
        let (answer, answered) = async_channel::bounded(1);
        let started = Instant::now();
        let sent = self
            .service
            .as_ref()
            .is_some_and(|service| service.send((client.to_owned(), answer)).is_ok());
        // Without a service (its thread could not start), the plugin
        // works it out itself.
        let found = if sent {
            answered.recv().await.unwrap_or_else(|_| domain(client))
        } else {
            domain(client)
        };
        self.waited += started.elapsed();
        self.known.insert(client.to_owned(), found.clone());
        found
    }

    /// What it counted: requests and clients by domain.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::new("domains")
            .count("requests", self.requests)
            .count("lookups", self.known.len() as u64);
        let mut ranked: Vec<(&String, &u64)> = self.by_domain.iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let mut shares = Vec::new();
        for &(domain, &n) in &ranked {
            summary = summary.count(format!("domain {domain}"), n);
            shares.push(format!("{domain} {n}"));
        }
        let lookups = u32::try_from(self.known.len()).unwrap_or(u32::MAX).max(1);
        summary.line(format!("requests by domain: {}", shares.join(", "))).line(format!(
            "{} clients looked up, each awaited {:.2} ms on average (the other plugins went on meanwhile)",
            self.known.len(),
            (self.waited / lookups).as_secs_f64() * 1e3
        ))
    }
}

/// A host name's last label with a dot (`.nz`), or `address` for a numeric
/// address.
fn domain(client: &str) -> String {
    let last = client.rsplit('.').next().unwrap_or(client);
    if last.is_empty() || last.bytes().all(|b| b.is_ascii_digit()) || client.contains(':') {
        "address".to_owned()
    } else {
        format!(".{}", last.to_ascii_lowercase())
    }
}

impl AsyncPlugin<LogEvent> for Domains {
    fn name(&self) -> &str {
        "domains"
    }

    fn on_attach(&mut self, id: PluginId) {
        self.id = Some(id);
    }

    async fn handle_message(&mut self, event: &Message<LogEvent>) -> Flow {
        match &**event {
            LogEvent::Request(request) => {
                let domain = self.lookup(&request.client).await;
                *self.by_domain.entry(domain).or_default() += 1;
                self.requests += 1;
            }
            LogEvent::Summarize(request) => {
                if let Some(id) = self.id {
                    let _ = request.answer(id, self.summary());
                }
            }
        }
        Flow::Continue
    }
}

impl Drop for Domains {
    fn drop(&mut self) {
        // The service ends when its queue closes; it is joined, so none of
        // this plugin's code runs after the plugin is gone (its library may
        // be unloaded next).
        self.service = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

plugbus_core::export_plugin! {
    plugin: Async<Domains>,
    message: LogEvent,
    construct: Domains::new,
}

#[cfg(test)]
mod tests {
    use super::domain;

    #[test]
    fn domains_of_names_and_addresses() {
        assert_eq!(domain("proxy-435.dialup.xtra.co.nz"), ".nz");
        assert_eq!(domain("crawler.aol.COM"), ".com");
        assert_eq!(domain("192.223.221.198"), "address");
        assert_eq!(domain("::1"), "address");
        assert_eq!(domain("localhost"), ".localhost");
        assert_eq!(domain(""), "address");
    }
}
