//! RFC 9110 section 5.6 building blocks: tokens, optional whitespace and comma-separated lists.

use crate::Header;

/// `tchar` of RFC 9110 section 5.6.2, as a table: token scanning is in the per-upgrade path.
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = matches!(i as u8,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
            | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z');
        i += 1;
    }
    table
};

/// `tchar` of RFC 9110 section 5.6.2.
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// Whether `s` is an HTTP token (`token = 1*tchar`, RFC 9110 section 5.6.2): a method, a field
/// name, an Upgrade protocol name, a WebSocket subprotocol or extension name. The workspace's one
/// token check: the server validates its configured subprotocols with it too.
///
/// ```
/// assert!(switchyard_handshake::is_token(b"chat.v2"));
/// assert!(!switchyard_handshake::is_token(b"chat v2"));
/// assert!(!switchyard_handshake::is_token(b""));
/// ```
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// OWS = *( SP / HTAB ).
pub(crate) fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_ows(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_ows(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// The elements of a `#rule` list (RFC 9110 section 5.6.1), trimmed, empty elements skipped as
/// the section tells recipients to do. For lists whose elements never contain quoted strings.
#[derive(Clone)]
pub(crate) struct CommaList<'a> {
    rest: &'a [u8],
}

impl<'a> CommaList<'a> {
    pub(crate) fn new(value: &'a [u8]) -> Self {
        CommaList { rest: value }
    }
}

impl<'a> Iterator for CommaList<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let (element, rest) = match self.rest.iter().position(|&b| b == b',') {
                Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
                None => (self.rest, &self.rest[..0]),
            };
            self.rest = rest;
            let element = trim_ows(element);
            if !element.is_empty() {
                return Some(element);
            }
        }
    }
}

/// Every element of every field line named `name`, in order: repeated field lines combine as one
/// comma-separated list (RFC 9110 section 5.3).
pub(crate) fn list_elements<'h, 'a>(
    headers: &'h [Header<'a>],
    name: &'static str,
) -> impl Iterator<Item = &'a [u8]> + Clone + 'h
where
    'a: 'h,
{
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .flat_map(|h| CommaList::new(h.value))
}

/// Whether any element of the `name` list equals `token`, compared case-insensitively.
pub(crate) fn list_contains(headers: &[Header<'_>], name: &'static str, token: &str) -> bool {
    list_elements(headers, name).any(|e| e.eq_ignore_ascii_case(token.as_bytes()))
}

/// The only field line named `name`: `Ok(None)` when absent, `Err(())` when repeated.
pub(crate) fn single<'a>(headers: &[Header<'a>], name: &str) -> Result<Option<&'a [u8]>, ()> {
    let mut found = None;
    for h in headers {
        if h.name.eq_ignore_ascii_case(name) {
            if found.is_some() {
                return Err(());
            }
            found = Some(h.value);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_list_trims_and_skips_empty_elements() {
        let items: Vec<&[u8]> = CommaList::new(b" ,a , b\t,,c,").collect();
        assert_eq!(items, [&b"a"[..], b"b", b"c"]);
        assert_eq!(CommaList::new(b" , ,").count(), 0);
    }

    #[test]
    fn repeated_field_lines_merge_into_one_list() {
        let headers = [
            Header {
                name: "Sec-WebSocket-Protocol",
                value: b"a, b",
            },
            Header {
                name: "Other",
                value: b"x",
            },
            Header {
                name: "sec-websocket-protocol",
                value: b"c",
            },
        ];
        let items: Vec<&[u8]> = list_elements(&headers, "Sec-WebSocket-Protocol").collect();
        assert_eq!(items, [&b"a"[..], b"b", b"c"]);
    }

    #[test]
    fn tokens_follow_rfc_9110_tchar() {
        assert!(is_token(b"websocket"));
        assert!(is_token(b"x-y.z~1"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a/b"));
        assert!(!is_token(b"a\"b"));
    }
}
