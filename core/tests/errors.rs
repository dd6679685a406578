//! The errors of sending, attaching and building from the registry: one-line
//! lowercase messages that keep their context and say their cause once.

use std::error::Error;

use plugbus_core::registry::{ConfigError, RegistryError};
use plugbus_core::{AttachError, LocalHost, SendError, TrySendError};

/// Every error and its sources, as a report (`anyhow`, `eyre`) prints them.
fn chain(error: &dyn Error) -> Vec<String> {
    let mut lines = vec![error.to_string()];
    let mut cause = error.source();
    while let Some(error) = cause {
        lines.push(error.to_string());
        cause = error.source();
    }
    lines
}

#[test]
fn a_failed_try_send_says_its_cause_once() {
    let host = LocalHost::<u32>::new();
    host.attach_with(
        Count,
        plugbus_core::AttachOptions::new()
            .overflow(plugbus_core::Overflow::Reject)
            .capacity(1),
    )
    .unwrap();
    host.try_send(1).unwrap();
    let error = host.try_send(2).unwrap_err();
    assert_eq!(chain(&error), ["message rejected by full plugins #0"]);
    assert!(matches!(
        error,
        TrySendError::Failed(SendError::Rejected { .. })
    ));

    let closed: TrySendError<u32> = TrySendError::Failed(SendError::Closed(3));
    assert_eq!(chain(&closed), ["sending into a host that is shut down"]);
}

#[test]
fn errors_that_wrap_nothing_have_no_source() {
    let full: TrySendError<u32> = TrySendError::Full(1);
    assert_eq!(full.to_string(), "a blocking plugin's queue is full");
    assert!(full.source().is_none());
    assert!(SendError::Closed(1).source().is_none());
    let capacity = AttachError::Capacity {
        requested: 0,
        max: 8,
    };
    assert_eq!(capacity.to_string(), "queue capacity 0 is not within 1..=8");
    assert!(capacity.source().is_none());
}

#[test]
fn a_refused_configuration_is_said_once() {
    let error = RegistryError::Config {
        plugin: "scale",
        error: ConfigError::new("factor: invalid digit found in string"),
    };
    assert_eq!(
        error.to_string(),
        "plugin `scale` refused its configuration: factor: invalid digit found in string"
    );
    assert_eq!(
        chain(&error),
        ["plugin `scale` refused its configuration: factor: invalid digit found in string"]
    );
    let unknown = RegistryError::Unknown {
        name: String::from("nope"),
        known: vec!["scale"],
    };
    assert!(unknown.source().is_none());
}

struct Count;

impl plugbus_core::Plugin<u32> for Count {
    fn handle_message(&mut self, _: &plugbus_core::Message<u32>) -> plugbus_core::Flow {
        plugbus_core::Flow::Continue
    }
}
