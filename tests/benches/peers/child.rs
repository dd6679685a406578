//! Measurements taken in a child process of the benchmark binary, so that
//! what one implementation leaves behind (freed-but-kept memory, threads)
//! does not pollute the next.

use std::process::Command;

use crate::failure::Failure;

/// Runs this executable with `args` for `implementation` and returns the
/// fields of the first line of its stdout that starts with `tag`, as
/// `key=value` pairs.
pub(crate) fn run(
    implementation: &str,
    args: &[String],
    tag: &str,
) -> Result<Vec<(String, String)>, Failure> {
    let exe = std::env::current_exe().map_err(|source| Failure::Io {
        what: "find the benchmark's own executable".into(),
        source,
    })?;
    let output = Command::new(&exe)
        .args(args)
        .output()
        .map_err(|source| Failure::Io {
            what: format!("run {}", exe.display()),
            source,
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(Failure::Child {
            implementation: implementation.to_owned(),
            reason: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    let Some(line) = stdout
        .lines()
        .find(|line| line.split_whitespace().next() == Some(tag))
    else {
        return Err(Failure::Child {
            implementation: implementation.to_owned(),
            reason: format!("no {tag} line in {stdout:?}"),
        });
    };
    Ok(line
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect())
}

/// The value of `key` among a child's fields, parsed.
pub(crate) fn field<T: std::str::FromStr>(
    implementation: &str,
    fields: &[(String, String)],
    key: &str,
) -> Result<T, Failure> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, value)| value.parse().ok())
        .ok_or_else(|| Failure::Child {
            implementation: implementation.to_owned(),
            reason: format!("no number {key}= in {fields:?}"),
        })
}
