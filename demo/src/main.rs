//! A log-processing pipeline on plugbus: reads an access log, sends each
//! request as one message to log plugins running side by side on the thread
//! host (some linked in, some loaded from a directory of plugin libraries,
//! one on a lossy lane, one pushing alerts through an outbox, one async
//! plugin awaiting a lookup service), shows their
//! progress, asks each for its summary (the host's `ask`: request and
//! response), and prints a
//! report.
//!
//! ```text
//! cargo run -p plugbus-demo                          # the sample log at 50x its pace
//! cargo run -p plugbus-demo -- --speed 0 --repeat 100  # as fast as it goes
//! cargo run -p plugbus-demo -- --help
//! ```
//!
//! One module per part of the pipeline: `options` (the command line),
//! `input` (lines to requests), `library` (finding plugin libraries),
//! `plugins` (which plugins, linked or loaded), `pipeline` (sending, pacing,
//! the final query), `progress` and `report` (what is shown).

// Unsafe code only where a library is loaded (`library`).
#![deny(unsafe_code)]

mod error;
mod input;
#[allow(unsafe_code)]
mod library;
mod options;
mod output;
mod pipeline;
mod plugins;
mod progress;
mod report;

use std::process::ExitCode;

use crate::error::Error;
use crate::options::Command;

fn main() -> ExitCode {
    let result = options::parse(std::env::args_os().skip(1))
        .map_err(Error::from)
        .and_then(|command| match command {
            Command::Help => {
                output::print(options::HELP);
                Ok(())
            }
            Command::Version => {
                output::line(concat!("plugbus-demo ", env!("CARGO_PKG_VERSION")));
                Ok(())
            }
            Command::Run(options) => pipeline::run(&options),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error @ Error::Usage(_)) => {
            eprintln!("plugbus-demo: {error}");
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("plugbus-demo: {error}");
            ExitCode::FAILURE
        }
    }
}
