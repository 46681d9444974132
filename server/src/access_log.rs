//! The access log: one line per finished connection, in plain words or JSON ([`LogFormat`]).
//!
//! [`write_access_line`] appends the line for an [`AccessRecord`] to a caller's `String`, so a
//! reactor can reuse one buffer for every line. Nothing is written with Rust's `Debug`
//! formatting: every value is either a number, a fixed word, or a string escaped for its format
//! (a client chooses its path and subprotocol, and must not be able to forge a log line).
//!
//! Text, `key=value` pairs separated by spaces, `-` for a value that is absent:
//!
//! ```text
//! peer=1.2.3.4:5 path=/chat subprotocol=- duration_ms=1234 in=3/120B out=5/300B close=1000 by=client
//! ```
//!
//! JSON, one object per line, absent values `null`:
//!
//! ```text
//! {"peer":"1.2.3.4:5","path":"/chat","subprotocol":null,"duration_ms":1234,"messages_in":3,"bytes_in":120,"messages_out":5,"bytes_out":300,"close_code":1000,"closed_by":"client"}
//! ```

use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `key=value` pairs, for people reading a terminal or `journalctl`. The default.
    #[default]
    Text,
    /// One JSON object per line, for log collectors (Loki, Elasticsearch, CloudWatch).
    Json,
}

impl LogFormat {
    /// The name used on the command line and in the TOML file (`text`, `json`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A log format name that is neither `text` nor `json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLogFormat(pub String);

impl fmt::Display for UnknownLogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "log format {:?}: expected text or json", self.0)
    }
}

impl std::error::Error for UnknownLogFormat {}

impl FromStr for LogFormat {
    type Err = UnknownLogFormat;

    /// `text` or `json`, exactly (as the command line and the file write them).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(UnknownLogFormat(s.to_owned())),
        }
    }
}

/// Who ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClosedBy {
    /// The client: its close frame came first, or it closed the TCP connection cleanly.
    Client,
    /// The server: its close frame came first (shutdown, limits, keepalive, an app's close).
    Server,
    /// Neither cleanly: a reset, a write error, or an EOF without a close handshake.
    Network,
}

impl ClosedBy {
    /// The word the log uses (`client`, `server`, `network`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Server => "server",
            Self::Network => "network",
        }
    }
}

impl fmt::Display for ClosedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the access log says about one finished connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRecord<'a> {
    /// The client's address, when the socket still knew it.
    pub peer: Option<SocketAddr>,
    /// The request path as sent (its query is best left out: it may carry a token).
    pub path: &'a str,
    /// The subprotocol agreed in the handshake, if any.
    pub subprotocol: Option<&'a str>,
    /// From the upgrade to the end of the connection.
    pub duration: Duration,
    /// Whole messages received from the client.
    pub messages_in: u64,
    /// Payload bytes of those messages.
    pub bytes_in: u64,
    /// Whole messages sent to the client.
    pub messages_out: u64,
    /// Payload bytes of those messages.
    pub bytes_out: u64,
    /// The close code of the close handshake (the first close frame's), if there was one with
    /// a code.
    pub close_code: Option<u16>,
    /// Who ended the connection.
    pub closed_by: ClosedBy,
}

/// The JSON shape of a record: field names are the log's, not the struct's.
#[derive(Serialize)]
struct JsonLine<'a> {
    peer: Option<String>,
    path: &'a str,
    subprotocol: Option<&'a str>,
    duration_ms: u128,
    messages_in: u64,
    bytes_in: u64,
    messages_out: u64,
    bytes_out: u64,
    close_code: Option<u16>,
    closed_by: ClosedBy,
}

/// Appends the access line for `record` in `format` to `out`, without a trailing newline (the
/// logger adds it). See the module docs for both formats.
pub fn write_access_line(record: &AccessRecord<'_>, format: LogFormat, out: &mut String) {
    let duration_ms = record.duration.as_millis();
    match format {
        LogFormat::Text => {
            // `fmt::Write` for `String` never fails.
            out.push_str("peer=");
            match record.peer {
                Some(peer) => {
                    let _ = write!(out, "{peer}");
                }
                None => out.push('-'),
            }
            out.push_str(" path=");
            write_text_value(Some(record.path), out);
            out.push_str(" subprotocol=");
            write_text_value(record.subprotocol, out);
            let _ = write!(
                out,
                " duration_ms={duration_ms} in={}/{}B out={}/{}B close=",
                record.messages_in, record.bytes_in, record.messages_out, record.bytes_out
            );
            match record.close_code {
                Some(code) => {
                    let _ = write!(out, "{code}");
                }
                None => out.push('-'),
            }
            let _ = write!(out, " by={}", record.closed_by);
        }
        LogFormat::Json => {
            let line = JsonLine {
                peer: record.peer.map(|p| p.to_string()),
                path: record.path,
                subprotocol: record.subprotocol,
                duration_ms,
                messages_in: record.messages_in,
                bytes_in: record.bytes_in,
                messages_out: record.messages_out,
                bytes_out: record.bytes_out,
                close_code: record.close_code,
                closed_by: record.closed_by,
            };
            // Serializing strings, numbers and unit variants cannot fail.
            if let Ok(json) = serde_json::to_string(&line) {
                out.push_str(&json);
            }
        }
    }
}

/// A text value: as is when it is plain (printable ASCII other than `"`, `\` and space, and not
/// `-` or empty, which would read as absent), else in double quotes with `"`, `\` and control
/// characters escaped, so that one value can never look like another key or a new line.
/// `None` is `-`.
fn write_text_value(value: Option<&str>, out: &mut String) {
    let Some(value) = value else {
        out.push('-');
        return;
    };
    let plain = |c: char| c.is_ascii_graphic() && c != '"' && c != '\\';
    if !value.is_empty() && value != "-" && value.chars().all(plain) {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                // As JSON writes it; every control character is below U+00A0.
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn record() -> AccessRecord<'static> {
        AccessRecord {
            peer: Some("1.2.3.4:5".parse().unwrap()),
            path: "/chat",
            subprotocol: None,
            duration: Duration::from_millis(1234),
            messages_in: 3,
            bytes_in: 120,
            messages_out: 5,
            bytes_out: 300,
            close_code: Some(1000),
            closed_by: ClosedBy::Client,
        }
    }

    fn line(record: &AccessRecord<'_>, format: LogFormat) -> String {
        let mut out = String::new();
        write_access_line(record, format, &mut out);
        out
    }

    #[test]
    fn text_lines_name_every_field() {
        assert_eq!(
            line(&record(), LogFormat::Text),
            "peer=1.2.3.4:5 path=/chat subprotocol=- duration_ms=1234 in=3/120B out=5/300B \
             close=1000 by=client"
        );
        let r = AccessRecord {
            peer: Some("[::1]:8080".parse().unwrap()),
            subprotocol: Some("chat.v1"),
            close_code: None,
            closed_by: ClosedBy::Network,
            ..record()
        };
        assert_eq!(
            line(&r, LogFormat::Text),
            "peer=[::1]:8080 path=/chat subprotocol=chat.v1 duration_ms=1234 in=3/120B \
             out=5/300B close=- by=network"
        );
        let r = AccessRecord {
            peer: None,
            closed_by: ClosedBy::Server,
            ..record()
        };
        let text = line(&r, LogFormat::Text);
        assert!(text.starts_with("peer=- path=/chat"), "{text}");
        assert!(text.ends_with("by=server"), "{text}");
    }

    #[test]
    fn text_values_that_could_mislead_are_quoted_and_escaped() {
        let r = AccessRecord {
            path: "/a b\"c\\d\ne=f\u{1b}[31m",
            subprotocol: Some("-"),
            ..record()
        };
        let text = line(&r, LogFormat::Text);
        assert!(
            text.contains(r#"path="/a b\"c\\d\ne=f\u001b[31m" subprotocol="-" "#),
            "{text}"
        );
        assert!(!text.contains('\n') && !text.contains('\u{1b}'), "{text}");
        let r = AccessRecord {
            path: "/caf\u{e9}",
            ..record()
        };
        assert!(line(&r, LogFormat::Text).contains("path=\"/caf\u{e9}\" "));
        let r = AccessRecord {
            path: "",
            ..record()
        };
        assert!(line(&r, LogFormat::Text).contains("path=\"\" "));
    }

    #[test]
    fn json_lines_are_one_object_with_every_field() {
        let text = line(&record(), LogFormat::Json);
        assert_eq!(
            text,
            r#"{"peer":"1.2.3.4:5","path":"/chat","subprotocol":null,"duration_ms":1234,"messages_in":3,"bytes_in":120,"messages_out":5,"bytes_out":300,"close_code":1000,"closed_by":"client"}"#
        );
        let r = AccessRecord {
            peer: None,
            subprotocol: Some("chat.v1"),
            close_code: None,
            closed_by: ClosedBy::Network,
            ..record()
        };
        let v: Value = serde_json::from_str(&line(&r, LogFormat::Json)).unwrap();
        assert_eq!(v["peer"], Value::Null);
        assert_eq!(v["subprotocol"], "chat.v1");
        assert_eq!(v["close_code"], Value::Null);
        assert_eq!(v["closed_by"], "network");
    }

    #[test]
    fn json_strings_are_escaped() {
        let path = "/a\"b\\c\nd\u{1}\u{e9}";
        let r = AccessRecord { path, ..record() };
        let text = line(&r, LogFormat::Json);
        assert!(!text.contains('\n') && !text.contains('\u{1}'), "{text}");
        assert!(text.contains(r#""path":"/a\"b\\c\nd\u0001é""#), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["path"], path, "round-trips");
    }

    #[test]
    fn lines_are_appended_to_what_the_buffer_holds() {
        let mut out = "earlier ".to_owned();
        write_access_line(&record(), LogFormat::Text, &mut out);
        assert!(out.starts_with("earlier peer="), "{out}");
    }

    #[test]
    fn formats_parse_and_display_their_names() {
        for format in [LogFormat::Text, LogFormat::Json] {
            assert_eq!(format.to_string().parse::<LogFormat>(), Ok(format));
        }
        assert_eq!(LogFormat::default(), LogFormat::Text);
        let e = "xml".parse::<LogFormat>().unwrap_err();
        assert_eq!(e.to_string(), "log format \"xml\": expected text or json");
        assert_eq!(ClosedBy::Server.to_string(), "server");
    }
}
