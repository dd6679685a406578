//! The bytes a plugbus message crosses between processes as: a small
//! header, then the message encoded with [postcard].
//!
//! Any transport can use it: it knows nothing of one. `plugbus-zenoh`
//! sends these frames over the network (and re-exports this crate as
//! `plugbus_zenoh::wire`); `plugbus-host-std`'s isolated plugins send them
//! through shared memory to a child process.
//!
//! ```text
//! kind     1 byte   1 = a message, 2 = the end of an origin's stream
//! origin   8 bytes  little-endian, random per publishing host
//! sequence varint   per origin, from 0; for an end, how many messages came before it
//! payload  postcard (a message only; an end has none)
//! ```
//!
//! ```
//! use plugbus_wire::{self as wire, Frame, Header, Origin};
//!
//! let header = Header { origin: Origin::from_u64(7), sequence: 0 };
//! let mut bytes = Vec::new();
//! wire::encode(header, &(3u8, "three"), &mut bytes).unwrap();
//! let frame: Frame<(u8, String)> = wire::decode(&bytes).unwrap();
//! assert_eq!(frame, Frame::Message(header, (3, "three".to_string())));
//!
//! // Bytes that are not a frame give a typed error, never a panic.
//! assert!(wire::decode::<u64>(&[9, 9]).is_err());
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use core::fmt;
use core::str::FromStr;
use std::hash::{BuildHasher, Hasher};

use serde::Serialize;
use serde::de::DeserializeOwned;

const KIND_MESSAGE: u8 = 1;
const KIND_END: u8 = 2;
const ORIGIN_LEN: usize = 8;

/// The longest header: kind, origin and a ten-byte varint.
pub const MAX_HEADER_LEN: usize = 1 + ORIGIN_LEN + 10;

/// Who first published a message: a random id chosen once per publishing
/// host (per zenoh link, per isolated plugin), kept when the message is
/// relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, plugbus_core::Fingerprint)]
pub struct Origin(u64);

impl Origin {
    /// A fresh random origin (std's per-process random hash keys, mixed
    /// with the time and the process id).
    pub fn random() -> Origin {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        if let Ok(since) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            hasher.write_u128(since.as_nanos());
        }
        Origin(hasher.finish())
    }

    /// The origin with this number (tests, or an origin chosen by the user).
    pub const fn from_u64(id: u64) -> Origin {
        Origin(id)
    }

    /// The origin as a number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Origin {
    /// Sixteen hexadecimal digits, the form [`FromStr`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for Origin {
    type Err = core::num::ParseIntError;

    /// Up to sixteen hexadecimal digits.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(text, 16).map(Origin)
    }
}

/// The header every frame starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, plugbus_core::Fingerprint)]
pub struct Header {
    /// The host that first published the message.
    pub origin: Origin,
    /// Its place in that origin's stream, from 0 without holes.
    pub sequence: u64,
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "origin {} sequence {}", self.origin, self.sequence)
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<T> {
    /// A message and its header.
    Message(Header, T),
    /// The origin published its last message: `sequence` is how many it
    /// published, so a receiver can count losses at the tail too.
    End(Header),
}

/// Appends the frame of one message to `out`.
///
/// # Errors
/// [`EncodeError`] when serde cannot encode the value with postcard (a
/// sequence or map whose length is unknown up front, or a `Serialize`
/// implementation that fails); `out` is then as it was.
pub fn encode<T: Serialize + ?Sized>(
    header: Header,
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = out.len();
    push_header(KIND_MESSAGE, header, out);
    match postcard::to_extend(value, Append(out)) {
        Ok(_) => Ok(()),
        Err(error) => {
            out.truncate(start);
            Err(EncodeError { header, error })
        }
    }
}

/// Lets postcard append to a borrowed vector.
struct Append<'a>(&'a mut Vec<u8>);

impl Extend<u8> for Append<'_> {
    fn extend<I: IntoIterator<Item = u8>>(&mut self, bytes: I) {
        self.0.extend(bytes);
    }
}

/// Appends the frame that ends `header.origin`'s stream after
/// `header.sequence` messages.
pub fn encode_end(header: Header, out: &mut Vec<u8>) {
    push_header(KIND_END, header, out);
}

/// Appends a message frame's header alone, for a transport that appends
/// the payload itself in another form than postcard (an isolated plugin's
/// plain-data messages, copied byte for byte); [`decode_header`] reads it
/// back and returns what follows as the payload.
///
/// ```
/// use plugbus_wire::{self as wire, Header, Kind, Origin};
///
/// let header = Header { origin: Origin::from_u64(1), sequence: 5 };
/// let mut bytes = Vec::new();
/// wire::encode_message_header(header, &mut bytes);
/// bytes.extend_from_slice(&[1, 2, 3]);
/// let (kind, read, payload) = wire::decode_header(&bytes).unwrap();
/// assert_eq!((kind, read, payload), (Kind::Message, header, &[1u8, 2, 3][..]));
/// ```
pub fn encode_message_header(header: Header, out: &mut Vec<u8>) {
    push_header(KIND_MESSAGE, header, out);
}

fn push_header(kind: u8, header: Header, out: &mut Vec<u8>) {
    out.push(kind);
    out.extend_from_slice(&header.origin.0.to_le_bytes());
    let mut varint = [0u8; 10];
    // A u64 varint takes at most 10 bytes, which `varint` has.
    let written = postcard::to_slice(&header.sequence, &mut varint).map_or(&[][..], |s| &s[..]);
    out.extend_from_slice(written);
}

/// Reads one frame.
///
/// # Errors
/// [`DecodeError`] naming what is wrong: an empty or truncated header, an
/// unknown kind, a payload that does not decode as `T`, or bytes left over.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<Frame<T>, DecodeError> {
    match decode_header(bytes)? {
        (Kind::Message, header, payload) => {
            Ok(Frame::Message(header, decode_payload(header, payload)?))
        }
        (Kind::End, header, []) => Ok(Frame::End(header)),
        (Kind::End, header, rest) => Err(DecodeError::TrailingBytes {
            header,
            count: rest.len(),
        }),
    }
}

/// What a frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A message: a payload follows the header.
    Message,
    /// The end of an origin's stream: nothing follows.
    End,
}

/// Reads the header alone and returns the bytes after it, so a receiver
/// can drop an echo or a repeat without decoding its payload, and a relay
/// that does not know `T` can forward the bytes as they are.
///
/// # Errors
/// [`DecodeError::Empty`], [`DecodeError::UnknownKind`] or
/// [`DecodeError::TruncatedHeader`].
pub fn decode_header(bytes: &[u8]) -> Result<(Kind, Header, &[u8]), DecodeError> {
    let Some((&kind, rest)) = bytes.split_first() else {
        return Err(DecodeError::Empty);
    };
    let kind = match kind {
        KIND_MESSAGE => Kind::Message,
        KIND_END => Kind::End,
        other => return Err(DecodeError::UnknownKind(other)),
    };
    let Some((origin, rest)) = rest.split_first_chunk::<ORIGIN_LEN>() else {
        return Err(DecodeError::TruncatedHeader { len: bytes.len() });
    };
    let origin = Origin(u64::from_le_bytes(*origin));
    let (sequence, rest) = postcard::take_from_bytes::<u64>(rest)
        .map_err(|_| DecodeError::TruncatedHeader { len: bytes.len() })?;
    Ok((kind, Header { origin, sequence }, rest))
}

/// Decodes the payload that followed `header`, all of it.
///
/// # Errors
/// [`DecodeError::Payload`] or [`DecodeError::TrailingBytes`], naming
/// `header`.
pub fn decode_payload<T: DeserializeOwned>(
    header: Header,
    payload: &[u8],
) -> Result<T, DecodeError> {
    match postcard::take_from_bytes::<T>(payload) {
        Ok((value, [])) => Ok(value),
        Ok((_, left)) => Err(DecodeError::TrailingBytes {
            header,
            count: left.len(),
        }),
        Err(error) => Err(DecodeError::Payload { header, error }),
    }
}

/// A value postcard could not encode.
#[derive(Debug, Clone)]
pub struct EncodeError {
    header: Header,
    error: postcard::Error,
}

impl EncodeError {
    /// The header of the message that did not encode.
    pub fn header(&self) -> Header {
        self.header
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "message with {} does not encode", self.header)
    }
}

impl std::error::Error for EncodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Bytes that are not a frame of this format.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// No bytes at all.
    Empty,
    /// The first byte names no kind of frame this version knows.
    UnknownKind(u8),
    /// Fewer bytes than a header needs.
    TruncatedHeader {
        /// How many bytes there were.
        len: usize,
    },
    /// The header is whole but the payload does not decode as the
    /// message type (another type, another version, or garbage).
    Payload {
        /// The header before the payload.
        header: Header,
        /// What postcard said.
        error: postcard::Error,
    },
    /// The frame decoded with bytes left over.
    TrailingBytes {
        /// The frame's header.
        header: Header,
        /// How many bytes were left.
        count: usize,
    },
}

impl DecodeError {
    /// The header, when the bytes had a whole one.
    pub fn header(&self) -> Option<Header> {
        match self {
            DecodeError::Payload { header, .. } | DecodeError::TrailingBytes { header, .. } => {
                Some(*header)
            }
            _ => None,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Empty => f.write_str("empty frame"),
            DecodeError::UnknownKind(kind) => write!(f, "unknown frame kind {kind}"),
            DecodeError::TruncatedHeader { len } => {
                write!(f, "frame of {len} bytes is too short for its header")
            }
            DecodeError::Payload { header, .. } => {
                write!(f, "payload of the message with {header} does not decode")
            }
            DecodeError::TrailingBytes { header, count } => {
                write!(f, "frame with {header} has {count} bytes left over")
            }
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DecodeError::Payload { error, .. } => Some(error),
            _ => None,
        }
    }
}
