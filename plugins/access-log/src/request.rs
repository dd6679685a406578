//! One line of an access log.

use std::fmt;

use plugbus_core::Fingerprint;

use crate::error::{Field, ParseError};
use crate::time::Timestamp;

/// An HTTP request method.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Fingerprint)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
    /// `PATCH`
    Patch,
    /// Any other token.
    Other(String),
}

impl Method {
    fn parse(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            other => Method::Other(other.to_owned()),
        }
    }

    /// The method as written.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
            Method::Other(token) => token,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request, parsed from a line in the common or combined log format:
///
/// ```text
/// client ident user [time] "METHOD target PROTOCOL" status size ["referer" "user agent"] ...
/// ```
///
/// Fields after the user agent (some servers add more) are ignored.
///
/// ```
/// use plugbus_access_log::{Method, Request};
///
/// let line = r#"dyn-530.optus.com.au - - [22/Apr/2009:18:52:51 +1200] "GET /images/5332.jpg HTTP/1.1" 200 244 "-" "Mozilla/4.0""#;
/// let request = Request::parse(3, line)?;
/// assert_eq!(request.line, 3);
/// assert_eq!(request.client, "dyn-530.optus.com.au");
/// assert_eq!(request.method, Method::Get);
/// assert_eq!((request.status, request.bytes), (200, 244));
/// assert_eq!(request.referer, None); // `-`
/// assert_eq!(request.user_agent.as_deref(), Some("Mozilla/4.0"));
/// assert_eq!(request.to_string(), "18:52:51 GET /images/5332.jpg 200 244 B dyn-530.optus.com.au");
/// # Ok::<(), plugbus_access_log::ParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Fingerprint)]
pub struct Request {
    /// Its line number in the input, from 1.
    pub line: u64,
    /// The client's host name or address.
    pub client: String,
    /// The authenticated user, if any.
    pub user: Option<String>,
    /// When it was served.
    pub time: Timestamp,
    /// The method.
    pub method: Method,
    /// The target: path and query.
    pub path: String,
    /// The protocol (`HTTP/1.1`), empty for an HTTP/0.9 request.
    pub protocol: String,
    /// The status code.
    pub status: u16,
    /// The size of the response body in bytes (0 for `-`).
    pub bytes: u64,
    /// The referer, if given and not `-`.
    pub referer: Option<String>,
    /// The user agent, if given and not `-`.
    pub user_agent: Option<String>,
}

impl Request {
    /// Parses one line (without its line break), numbered `line`.
    ///
    /// # Errors
    /// A [`ParseError`] naming the first field that is missing or wrong.
    pub fn parse(line: u64, text: &str) -> Result<Request, ParseError> {
        let mut cursor = Cursor(text.trim_end_matches(['\r', '\n']));
        let client = cursor.word(Field::Client)?.to_owned();
        cursor.word(Field::Ident)?;
        let user = dash_is_none(cursor.word(Field::User)?);
        let time_text = cursor.enclosed(Field::Time, b'[', b']')?;
        let time = Timestamp::parse(time_text).ok_or_else(|| ParseError::Time(time_text.into()))?;
        let request = cursor.enclosed(Field::Request, b'"', b'"')?;
        let (method, path, protocol) = split_request(request)?;
        let status_text = cursor.word(Field::Status)?;
        let status = status_text
            .parse()
            .ok()
            .filter(|status| (100..=599).contains(status) && status_text.len() == 3)
            .ok_or_else(|| ParseError::Status(status_text.into()))?;
        let bytes_text = cursor.word(Field::Bytes)?;
        let bytes = match bytes_text {
            "-" => 0,
            text if text.bytes().all(|b| b.is_ascii_digit()) => {
                text.parse().map_err(|_| ParseError::Bytes(text.into()))?
            }
            text => return Err(ParseError::Bytes(text.into())),
        };
        let referer = cursor
            .optional_quoted(Field::Referer)?
            .and_then(dash_is_none);
        let user_agent = cursor
            .optional_quoted(Field::UserAgent)?
            .and_then(dash_is_none);
        Ok(Request {
            line,
            client,
            user,
            time,
            method,
            path,
            protocol,
            status,
            bytes,
            referer,
            user_agent,
        })
    }

    /// Whether the server answered with an error (4xx or 5xx).
    pub fn is_error(&self) -> bool {
        self.status >= 400
    }
}

impl fmt::Display for Request {
    /// `hh:mm:ss METHOD target status size client`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} B {}",
            self.time.clock(),
            self.method,
            self.path,
            self.status,
            self.bytes,
            self.client
        )
    }
}

fn dash_is_none(text: &str) -> Option<String> {
    (text != "-").then(|| text.to_owned())
}

fn split_request(request: &str) -> Result<(Method, String, String), ParseError> {
    let mut parts = request.split(' ').filter(|part| !part.is_empty());
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(ParseError::Request(request.into()));
    };
    let protocol = parts.next().unwrap_or_default();
    if parts.next().is_some() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ParseError::Request(request.into()));
    }
    Ok((Method::parse(method), path.to_owned(), protocol.to_owned()))
}

/// The unread rest of a line.
struct Cursor<'a>(&'a str);

impl<'a> Cursor<'a> {
    /// The next space-separated word.
    fn word(&mut self, field: Field) -> Result<&'a str, ParseError> {
        let rest = self.0.trim_start_matches(' ');
        if rest.is_empty() {
            return Err(ParseError::Missing(field));
        }
        let end = rest.find(' ').unwrap_or(rest.len());
        self.0 = &rest[end..];
        Ok(&rest[..end])
    }

    /// The text between `open` and `close`; a `close` after a backslash
    /// does not count (servers escape quotes in requests as `\"`).
    fn enclosed(&mut self, field: Field, open: u8, close: u8) -> Result<&'a str, ParseError> {
        let rest = self.0.trim_start_matches(' ');
        if rest.is_empty() {
            return Err(ParseError::Missing(field));
        }
        if rest.as_bytes()[0] != open {
            // A word where the bracket or quote should be: say which field.
            return Err(match field {
                Field::Time => ParseError::Time(self.peek_word(rest).into()),
                Field::Request => ParseError::Request(self.peek_word(rest).into()),
                other => ParseError::Unclosed(other),
            });
        }
        let bytes = rest.as_bytes();
        let mut i = 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b if b == close => {
                    self.0 = &rest[i + 1..];
                    return Ok(&rest[1..i]);
                }
                _ => i += 1,
            }
        }
        Err(ParseError::Unclosed(field))
    }

    /// A quoted field that may be absent (the common format has none).
    fn optional_quoted(&mut self, field: Field) -> Result<Option<&'a str>, ParseError> {
        if self.0.trim_start_matches(' ').is_empty() {
            return Ok(None);
        }
        self.enclosed(field, b'"', b'"').map(Some)
    }

    fn peek_word(&self, rest: &'a str) -> &'a str {
        &rest[..rest.find(' ').unwrap_or(rest.len())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"proxy-435.dialup.xtra.co.nz - - [22/Apr/2009:18:52:51 +1200] "GET /adclick.php?c=LME2 HTTP/1.1" 302 378 "-" "Mozilla/5.0 (Macintosh)" "-""#;

    #[test]
    fn combined_with_an_extra_field() {
        let r = Request::parse(5, GOOD).unwrap();
        assert_eq!(r.client, "proxy-435.dialup.xtra.co.nz");
        assert_eq!(r.user, None);
        assert_eq!(r.time.clock(), "18:52:51");
        assert_eq!(
            (&r.method, r.path.as_str()),
            (&Method::Get, "/adclick.php?c=LME2")
        );
        assert_eq!(r.protocol, "HTTP/1.1");
        assert_eq!((r.status, r.bytes), (302, 378));
        assert_eq!(r.user_agent.as_deref(), Some("Mozilla/5.0 (Macintosh)"));
    }

    #[test]
    fn common_format_escaped_quotes_and_dashes() {
        let r = Request::parse(
            1,
            r#"10.0.0.1 - alice [01/Jan/2024:00:00:00 +0000] "POST /a\"b HTTP/1.0" 404 -"#,
        )
        .unwrap();
        assert_eq!(r.user.as_deref(), Some("alice"));
        assert_eq!(r.path, r#"/a\"b"#);
        assert_eq!((r.status, r.bytes), (404, 0));
        assert_eq!((&r.referer, &r.user_agent), (&None, &None));
        assert!(r.is_error());
        let old = Request::parse(2, r#"h - - [01/Jan/2024:00:00:00 +0000] "GET /" 200 1"#).unwrap();
        assert_eq!(old.protocol, "");
        let other = Request::parse(
            3,
            r#"h - - [01/Jan/2024:00:00:00 +0000] "PROPFIND / HTTP/1.1" 207 1"#,
        )
        .unwrap();
        assert_eq!(other.method, Method::Other("PROPFIND".into()));
    }

    #[test]
    fn each_bad_field_names_itself() {
        let time = "[01/Jan/2024:00:00:00 +0000]";
        let cases: &[(String, ParseError)] = &[
            (String::new(), ParseError::Missing(Field::Client)),
            ("h - ".into(), ParseError::Missing(Field::User)),
            ("h - -".into(), ParseError::Missing(Field::Time)),
            (
                "h - - [01/Jan/2024".into(),
                ParseError::Unclosed(Field::Time),
            ),
            (
                "h - - yesterday".into(),
                ParseError::Time("yesterday".into()),
            ),
            (
                "h - - [01/Jan/2024]".into(),
                ParseError::Time("01/Jan/2024".into()),
            ),
            (format!("h - - {time}"), ParseError::Missing(Field::Request)),
            (
                format!("h - - {time} \"GET /"),
                ParseError::Unclosed(Field::Request),
            ),
            (format!("h - - {time} -"), ParseError::Request("-".into())),
            (
                format!("h - - {time} \"-\""),
                ParseError::Request("-".into()),
            ),
            (
                format!("h - - {time} \"get / HTTP/1.1\""),
                ParseError::Request("get / HTTP/1.1".into()),
            ),
            (
                format!("h - - {time} \"GET / HTTP/1.1\""),
                ParseError::Missing(Field::Status),
            ),
            (
                format!("h - - {time} \"GET / HTTP/1.1\" 99"),
                ParseError::Status("99".into()),
            ),
            (
                format!("h - - {time} \"GET / HTTP/1.1\" 0200"),
                ParseError::Status("0200".into()),
            ),
            (
                format!("h - - {time} \"GET / HTTP/1.1\" 200"),
                ParseError::Missing(Field::Bytes),
            ),
            (
                format!("h - - {time} \"GET / HTTP/1.1\" 200 -5"),
                ParseError::Bytes("-5".into()),
            ),
            (
                format!("h - - {time} \"GET / HTTP/1.1\" 200 99999999999999999999"),
                ParseError::Bytes("99999999999999999999".into()),
            ),
            (
                format!("h - - {time} \"GET / HTTP/1.1\" 200 1 \"-"),
                ParseError::Unclosed(Field::Referer),
            ),
            (
                format!("h - - {time} \"GET / HTTP/1.1\" 200 1 \"-\" ua"),
                ParseError::Unclosed(Field::UserAgent),
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(Request::parse(1, line).as_ref(), Err(expected), "{line:?}");
        }
    }

    #[test]
    fn errors_print_on_one_short_line() {
        let long = format!("h - - [{}] \"GET / HTTP/1.1\" 200 1", "x\n".repeat(50));
        let text = Request::parse(1, &long).unwrap_err().to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(
            text.ends_with("…` is not dd/Mon/yyyy:hh:mm:ss +zzzz"),
            "{text}"
        );
    }
}
