//! A plugin whose message type is plain data (`bytemuck::Pod`), so that an
//! isolated host sends it with `Isolated::<Block, Plain>`: copied into
//! shared memory as its bytes, without encoding. With `log=PATH` in its
//! configuration it appends each finished block's sequence number to that
//! file (8 bytes, little-endian, one `write` each), as `plugbus-crash`
//! does; a block whose `command` is [`ABORT`] aborts the process.

use std::fs::{File, OpenOptions};
use std::io::Write;

use plugbus_core::{Fingerprint, Flow, Message, Plugin};

/// `Block::command`: finish normally.
pub const RECORD: u64 = 0;
/// `Block::command`: `std::process::abort`.
pub const ABORT: u64 = 1;

/// A 4 KiB message of plain data.
#[derive(Debug, Clone, Copy, bytemuck::Zeroable, bytemuck::Pod, Fingerprint)]
#[repr(C)]
pub struct Block {
    /// Its number.
    pub sequence: u64,
    /// [`RECORD`] or [`ABORT`].
    pub command: u64,
    /// Carried, untouched (as `plugbus-crash`'s `Bytes`, so the benchmark
    /// compares the crossing alone).
    pub payload: [u8; 4080],
}

impl Block {
    /// Block `sequence` with `command` and a payload of `fill`.
    pub fn new(sequence: u64, command: u64, fill: u8) -> Self {
        Block {
            sequence,
            command,
            payload: [fill; 4080],
        }
    }
}

/// The plugin.
#[derive(Debug, Default)]
pub struct Blocks {
    log: Option<File>,
}

impl Blocks {
    /// `log=PATH` appends each finished sequence number to PATH.
    pub fn new(config: &str) -> Result<Self, String> {
        let mut blocks = Blocks::default();
        for option in config.split_whitespace() {
            match option.split_once('=') {
                Some(("log", path)) => {
                    let file = OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .map_err(|error| format!("cannot open log {path}: {error}"))?;
                    blocks.log = Some(file);
                }
                _ => return Err(format!("unknown option `{option}`")),
            }
        }
        Ok(blocks)
    }
}

impl Plugin<Block> for Blocks {
    fn handle_message(&mut self, message: &Message<Block>) -> Flow {
        if message.command == ABORT {
            std::process::abort();
        }
        if let Some(log) = &mut self.log {
            let _ = log.write_all(&message.sequence.to_le_bytes());
        }
        Flow::Continue
    }

    fn name(&self) -> &str {
        "plain"
    }
}

plugbus_core::export_plugin! {
    plugin: Blocks,
    message: Block,
    construct: Blocks::new,
}
