//! How an isolated plugin's messages cross into its child: encoded with
//! serde + postcard, or copied byte for byte when the type is plain data.

use plugbus_wire::{self as wire, Frame, Header, Kind};
use serde::Serialize;
use serde::de::DeserializeOwned;

mod sealed {
    pub trait Sealed {}
}

/// How an isolated plugin's messages cross into its child process; the
/// second type parameter of [`Isolated`](super::Isolated) and of
/// [`run_child_with`](super::run_child_with).
///
/// - [`Postcard`], the default: any serde type, encoded with postcard
///   after a `plugbus-wire` header. A [`Request`](plugbus_core::ask::Request)
///   or an [`Outbox`](plugbus_core::Outbox) in the message crosses too
///   (the plugin answers and replies as in process).
/// - [`Plain`]: a plain-data type (`bytemuck::Pod`: `Copy`, no padding,
///   no pointers, every bit pattern valid), copied into shared memory as
///   its bytes after the same header, without encoding.
///
/// Host and child must agree: the host tells the child its encoding, and
/// a runner that decodes another refuses to start (the spawn fails with
/// [`IsolateError::Child`](super::IsolateError::Child) naming both).
///
/// Sealed: these two are the encodings.
pub trait Encoding<M>: sealed::Sealed + Send + Sync + 'static {
    /// The name the host passes to the child.
    #[doc(hidden)]
    const NAME: &'static str;
    /// Appends the frame of `message` under `header`; false if it cannot
    /// be encoded.
    #[doc(hidden)]
    fn encode(header: Header, message: &M, out: &mut Vec<u8>) -> bool;
    /// Reads a message frame back, or says why it is not one.
    #[doc(hidden)]
    fn decode(bytes: &[u8]) -> Result<M, String>;
}

/// Messages cross encoded with serde + postcard (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct Postcard;

/// Messages cross as their bytes, without encoding (plain-data types).
///
/// ```no_run
/// use plugbus_host_std::isolated::{IsolateOptions, Isolated, Plain, run_child_with};
/// use plugbus_host_std::{AttachOptions, Host};
///
/// #[derive(Clone, Copy, bytemuck::Zeroable, bytemuck::Pod, plugbus_core::Fingerprint)]
/// #[repr(C)]
/// struct Sample {
///     sequence: u64,
///     values: [f32; 14],
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     run_child_with::<Sample, Plain>(); // this program is its own runner
///     let plugin = Isolated::<Sample, Plain>::spawn("plugins/libsamples.so", "", IsolateOptions::new())?;
///     let host = Host::new();
///     host.attach_with(plugin, AttachOptions::new())?;
///     host.send(Sample { sequence: 0, values: [0.5; 14] })?;
///     host.shutdown();
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;

impl sealed::Sealed for Postcard {}
impl sealed::Sealed for Plain {}

impl<M: Serialize + DeserializeOwned> Encoding<M> for Postcard {
    const NAME: &'static str = "postcard";

    fn encode(header: Header, message: &M, out: &mut Vec<u8>) -> bool {
        wire::encode(header, message, out).is_ok()
    }

    fn decode(bytes: &[u8]) -> Result<M, String> {
        match wire::decode::<M>(bytes) {
            Ok(Frame::Message(_, value)) => Ok(value),
            Ok(Frame::End(header)) => Err(format!("unexpected end frame ({header})")),
            Err(error) => Err(error.to_string()),
        }
    }
}

impl<M: bytemuck::Pod> Encoding<M> for Plain {
    const NAME: &'static str = "plain";

    fn encode(header: Header, message: &M, out: &mut Vec<u8>) -> bool {
        wire::encode_message_header(header, out);
        out.extend_from_slice(bytemuck::bytes_of(message));
        true
    }

    fn decode(bytes: &[u8]) -> Result<M, String> {
        match wire::decode_header(bytes) {
            Ok((Kind::Message, _, payload)) => bytemuck::try_pod_read_unaligned::<M>(payload)
                .map_err(|error| {
                    format!(
                        "a plain frame of {} bytes for a message of {} bytes: {error}",
                        payload.len(),
                        size_of::<M>()
                    )
                }),
            Ok((Kind::End, header, _)) => Err(format!("unexpected end frame ({header})")),
            Err(error) => Err(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use plugbus_wire::Origin;

    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, bytemuck::Zeroable, bytemuck::Pod)]
    #[repr(C)]
    struct Sample {
        sequence: u64,
        values: [f32; 2],
    }

    const HEADER: Header = Header {
        origin: Origin::from_u64(9),
        sequence: 3,
    };

    #[test]
    fn plain_frames_are_the_header_and_the_bytes() {
        let sample = Sample {
            sequence: 7,
            values: [0.5, -1.0],
        };
        let mut out = Vec::new();
        assert!(<Plain as Encoding<Sample>>::encode(
            HEADER, &sample, &mut out
        ));
        assert!(out.ends_with(bytemuck::bytes_of(&sample)));
        assert_eq!(<Plain as Encoding<Sample>>::decode(&out), Ok(sample));
        // The same frame with a byte missing, or a byte too many, is refused.
        let short = &out[..out.len() - 1];
        let error = <Plain as Encoding<Sample>>::decode(short).unwrap_err();
        assert!(error.contains("for a message of 16 bytes"), "{error}");
        out.push(0);
        assert!(<Plain as Encoding<Sample>>::decode(&out).is_err());
        assert!(<Plain as Encoding<Sample>>::decode(&[7]).is_err());
    }

    #[test]
    fn postcard_frames_round_trip_and_refuse_nonsense() {
        let mut out = Vec::new();
        assert!(<Postcard as Encoding<(u8, String)>>::encode(
            HEADER,
            &(1, "one".into()),
            &mut out
        ));
        assert_eq!(
            <Postcard as Encoding<(u8, String)>>::decode(&out),
            Ok((1, "one".to_string()))
        );
        assert!(<Postcard as Encoding<(u8, String)>>::decode(&[1, 2]).is_err());
    }
}
