//! Why a line is not a request.

use std::fmt;

/// A field of a common or combined log format line, in the order written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// The client's host name or address.
    Client,
    /// The identd user (almost always `-`).
    Ident,
    /// The authenticated user.
    User,
    /// The time in brackets.
    Time,
    /// The quoted request line.
    Request,
    /// The status code.
    Status,
    /// The response size.
    Bytes,
    /// The quoted referer (combined format).
    Referer,
    /// The quoted user agent (combined format).
    UserAgent,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Client => "client",
            Field::Ident => "ident",
            Field::User => "user",
            Field::Time => "time",
            Field::Request => "request",
            Field::Status => "status",
            Field::Bytes => "size",
            Field::Referer => "referer",
            Field::UserAgent => "user agent",
        })
    }
}

/// A line that is not in the common or combined log format.
///
/// Its text is cut to 40 characters and escaped, so the error prints on one
/// line whatever the input holds.
///
/// ```
/// use plugbus_access_log::{Field, ParseError, Request};
///
/// let error = Request::parse(7, r#"host - - [22/Apr/2009:18:52:51 +1200] "GET / HTTP/1.1" OK 12"#)
///     .unwrap_err();
/// assert_eq!(error, ParseError::Status("OK".into()));
/// assert_eq!(error.to_string(), "status `OK` is not a number from 100 to 599");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The line ends before this field.
    Missing(Field),
    /// This field opens a quote or bracket that the line does not close.
    Unclosed(Field),
    /// The time is not `dd/Mon/yyyy:hh:mm:ss +zzzz`.
    Time(String),
    /// The request is not `METHOD TARGET [PROTOCOL]`.
    Request(String),
    /// The status is not a number from 100 to 599.
    Status(String),
    /// The size is neither a number nor `-`.
    Bytes(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Missing(field) => write!(f, "the line ends before the {field}"),
            ParseError::Unclosed(Field::Time) => f.write_str("the time has no closing `]`"),
            ParseError::Unclosed(field) => write!(f, "the {field} has no closing quote"),
            ParseError::Time(text) => write!(
                f,
                "time `{}` is not dd/Mon/yyyy:hh:mm:ss +zzzz",
                Shown(text)
            ),
            ParseError::Request(text) => {
                write!(
                    f,
                    "request `{}` is not `METHOD TARGET PROTOCOL`",
                    Shown(text)
                )
            }
            ParseError::Status(text) => {
                write!(
                    f,
                    "status `{}` is not a number from 100 to 599",
                    Shown(text)
                )
            }
            ParseError::Bytes(text) => {
                write!(f, "size `{}` is neither a number nor `-`", Shown(text))
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// Input text in an error: at most 40 characters, escaped.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 40;
        let mut chars = self.0.chars();
        for c in chars.by_ref().take(MAX) {
            write!(f, "{}", c.escape_debug())?;
        }
        if chars.next().is_some() {
            f.write_str("…")?;
        }
        Ok(())
    }
}
