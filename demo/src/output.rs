//! Writing to standard output, where a reader that went away (`| head`)
//! ends the demo quietly instead of panicking as `println!` would.

use std::io::{ErrorKind, Write};

/// Writes `text` to standard output. If nobody reads it any more, exits
/// at once with success: the reader has what it wanted.
pub(crate) fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let result = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    match result {
        Ok(()) => {}
        Err(error) if error.kind() == ErrorKind::BrokenPipe => std::process::exit(0),
        Err(error) => {
            eprintln!("plugbus-demo: cannot write the output: {error}");
            std::process::exit(1);
        }
    }
}

/// [`print()`] with a line break.
pub(crate) fn line(text: &str) {
    print(&format!("{text}\n"));
}
