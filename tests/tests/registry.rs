//! Static registration: plugins attached by name with a configuration, and
//! the typed errors for an unknown name, a refused configuration and a
//! constructor that panics.

use plugbus_core::registry::{ConfigError, Registration, Registry, RegistryError};
use plugbus_core::{Flow, LocalHost, Message, Plugin};

struct Scale(u64, std::sync::Arc<std::sync::atomic::AtomicU64>);

static TOTAL: std::sync::LazyLock<std::sync::Arc<std::sync::atomic::AtomicU64>> =
    std::sync::LazyLock::new(Default::default);

impl Plugin<u64> for Scale {
    fn handle_message(&mut self, message: &Message<u64>) -> Flow {
        self.1
            .fetch_add(self.0 * **message, std::sync::atomic::Ordering::Relaxed);
        Flow::Continue
    }
    fn name(&self) -> &str {
        "scale"
    }
}

fn scale(config: &str) -> Result<Box<dyn Plugin<u64>>, ConfigError> {
    let factor = config
        .trim()
        .parse()
        .map_err(|e| ConfigError::new(format!("factor `{config}`: {e}")))?;
    Ok(Box::new(Scale(factor, TOTAL.clone())))
}

fn explode(_: &str) -> Result<Box<dyn Plugin<u64>>, ConfigError> {
    panic!("explode refuses to be built")
}

static PLUGINS: Registry<u64> = Registry::new(&[
    Registration {
        name: "scale",
        version: "1.0.0",
        construct: scale,
    },
    Registration {
        name: "explode",
        version: "0.1.0",
        construct: explode,
    },
]);

#[test]
fn attach_by_name_and_config() {
    let mut host = LocalHost::new();
    host.attach(PLUGINS.construct("scale", "3").unwrap())
        .unwrap();
    host.attach(PLUGINS.construct("scale", " 10 ").unwrap())
        .unwrap();
    for i in 1..=4 {
        host.send(i).unwrap();
    }
    let reports = host.shutdown();
    assert_eq!(reports.len(), 2);
    assert!(
        reports
            .iter()
            .all(|r| r.name == "scale" && r.stats.handled == 4)
    );
    assert_eq!(
        TOTAL.load(std::sync::atomic::Ordering::Relaxed),
        (3 + 10) * 10
    );
    assert_eq!(PLUGINS.get("scale").map(|r| r.version), Some("1.0.0"));
}

#[test]
fn unknown_name_lists_the_known_ones() {
    let error = PLUGINS.construct("sclae", "3").err().unwrap();
    assert_eq!(
        error,
        RegistryError::Unknown {
            name: "sclae".into(),
            known: vec!["scale", "explode"]
        }
    );
    assert_eq!(
        error.to_string(),
        "no plugin named `sclae` is registered (known: scale, explode)"
    );
}

#[test]
fn refused_configuration_keeps_its_reason() {
    let error = PLUGINS.construct("scale", "three").err().unwrap();
    match &error {
        RegistryError::Config { plugin, error } => {
            assert_eq!(*plugin, "scale");
            assert_eq!(
                error.reason(),
                "factor `three`: invalid digit found in string"
            );
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        "plugin `scale` refused its configuration: factor `three`: invalid digit found in string"
    );
    // The reason is in the message; no source() repeats it (a reporter that
    // walks the chain would print it twice).
    assert!(std::error::Error::source(&error).is_none());
}

#[test]
fn panicking_constructor_is_an_error() {
    let error = PLUGINS.construct("explode", "").err().unwrap();
    assert_eq!(
        error,
        RegistryError::Panicked {
            plugin: "explode",
            message: "explode refuses to be built".into()
        }
    );
}
