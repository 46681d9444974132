//! Sec-WebSocket-Extensions (RFC 6455 section 9.1) and the negotiation seam, exercised with a
//! permessage-deflate-shaped negotiator (RFC 7692 section 7), the kind a server plugs in.

mod common;
use common::*;
use switchyard_handshake::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Deflate {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u32>,
    client_max_window_bits: Option<u32>,
}

/// Accepts the first permessage-deflate offer whose parameters are all known, unrepeated and
/// valid (RFC 7692 section 7.1), declining the others.
struct DeflateNegotiator;

impl DeflateNegotiator {
    fn judge(offer: &ExtensionElement<'_>) -> Option<Deflate> {
        let mut agreed = Deflate::default();
        let mut seen = Vec::new();
        for param in offer.params() {
            if seen.contains(&param.name) {
                return None;
            }
            seen.push(param.name);
            let bits = |value: Option<ParamValue<'_>>| {
                value
                    .and_then(|v| v.parse_u32())
                    .filter(|b| (8..=15).contains(b))
            };
            match param.name {
                "server_no_context_takeover" if param.value.is_none() => {
                    agreed.server_no_context_takeover = true
                }
                "client_no_context_takeover" if param.value.is_none() => {
                    agreed.client_no_context_takeover = true
                }
                "server_max_window_bits" => {
                    agreed.server_max_window_bits = Some(bits(param.value)?)
                }
                "client_max_window_bits" => {
                    agreed.client_max_window_bits = match param.value {
                        None => Some(15),
                        value => Some(bits(value)?),
                    }
                }
                _ => return None,
            }
        }
        Some(agreed)
    }
}

impl ExtensionNegotiator for DeflateNegotiator {
    type Agreed = Option<Deflate>;

    fn negotiate(
        &self,
        offers: ExtensionList<'_>,
        response: &mut ExtensionResponse,
    ) -> Result<Option<Deflate>, NegotiationFailed> {
        for offer in offers.filter(|o| o.name().eq_ignore_ascii_case("permessage-deflate")) {
            let Some(agreed) = Self::judge(&offer) else {
                continue;
            };
            let mut accepted = response.accept(&offer)?;
            if agreed.server_no_context_takeover {
                accepted.param("server_no_context_takeover", None)?;
            }
            if agreed.client_no_context_takeover {
                accepted.param("client_no_context_takeover", None)?;
            }
            if let Some(bits) = agreed.server_max_window_bits {
                accepted.param("server_max_window_bits", Some(&bits.to_string()))?;
            }
            if let Some(bits) = agreed.client_max_window_bits {
                accepted.param("client_max_window_bits", Some(&bits.to_string()))?;
            }
            return Ok(Some(agreed));
        }
        Ok(None)
    }
}

fn negotiate(offer_lines: &[&str]) -> (Option<Deflate>, String) {
    let extra: String = offer_lines
        .iter()
        .map(|l| format!("Sec-WebSocket-Extensions: {l}\r\n"))
        .collect();
    let raw = ws_request(&extra);
    let acceptor = Acceptor::new().extensions(DeflateNegotiator);
    let mut parser = acceptor.parser();
    let mut headers = [EMPTY_HEADER; 16];
    let mut out = [0u8; 1024];
    match acceptor
        .accept(&mut parser, raw.as_bytes(), &mut headers, &mut out)
        .unwrap()
        .complete()
        .unwrap()
    {
        Decision::Switch(Switch {
            protocol: Switched::WebSocket { extensions, .. },
            response,
            ..
        }) => {
            let response = String::from_utf8(response.to_vec()).unwrap();
            let answer = response
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Extensions: "))
                .unwrap_or("")
                .to_string();
            (extensions, answer)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn chromium_offer_is_accepted_with_default_client_bits() {
    let (agreed, answer) = negotiate(&["permessage-deflate; client_max_window_bits"]);
    assert_eq!(agreed.unwrap().client_max_window_bits, Some(15));
    assert_eq!(answer, "permessage-deflate; client_max_window_bits=15");
}

#[test]
fn declined_offer_falls_through_to_the_next_rfc7692_section_5_2() {
    // RFC 7692 section 5.2's example: the first offer asks for something the server declines.
    let (agreed, answer) = negotiate(&[
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=10, permessage-deflate",
    ]);
    assert_eq!(agreed.unwrap().server_max_window_bits, Some(10));
    assert_eq!(answer, "permessage-deflate; server_max_window_bits=10");
}

#[test]
fn unknown_and_duplicate_parameters_decline_the_offer() {
    let (agreed, answer) = negotiate(&["permessage-deflate; foo, permessage-deflate; server_no_context_takeover; server_no_context_takeover, permessage-deflate; client_no_context_takeover"]);
    assert_eq!(
        agreed,
        Some(Deflate {
            client_no_context_takeover: true,
            ..Deflate::default()
        })
    );
    assert_eq!(answer, "permessage-deflate; client_no_context_takeover");
}

#[test]
fn quoted_string_values_are_unescaped_rfc6455_9_1() {
    let (agreed, _) = negotiate(&[r#"permessage-deflate; server_max_window_bits="1\2""#]);
    assert_eq!(agreed.unwrap().server_max_window_bits, Some(12));
}

#[test]
fn unknown_extensions_are_never_echoed() {
    let (agreed, answer) = negotiate(&["x-webkit-deflate-frame, foo; bar=1"]);
    assert_eq!((agreed, answer.as_str()), (None, ""));
}

#[test]
fn malformed_extension_header_is_400() {
    for value in [
        "permessage-deflate;",
        "a; b=",
        "a b",
        "a; b=\"c d\"",
        "a; b=\"unterminated",
        "a; =1",
        "a; b=\"\"",
    ] {
        let raw = ws_request(&format!("Sec-WebSocket-Extensions: {value}\r\n"));
        let outcome = run(
            &Acceptor::new().extensions(DeflateNegotiator),
            raw.as_bytes(),
        );
        assert_eq!(
            outcome.error(),
            Some(HandshakeError::MalformedExtensions),
            "{value}"
        );
    }
}

#[test]
fn negotiator_failure_is_400() {
    struct Fails;
    impl ExtensionNegotiator for Fails {
        type Agreed = ();
        fn negotiate(
            &self,
            _: ExtensionList<'_>,
            _: &mut ExtensionResponse,
        ) -> Result<(), NegotiationFailed> {
            Err(NegotiationFailed)
        }
    }
    let outcome = run(
        &Acceptor::new().extensions(Fails),
        ws_request("").as_bytes(),
    );
    assert_eq!(
        (outcome.error(), outcome.status()),
        (Some(HandshakeError::ExtensionRejected), 400)
    );
}

#[test]
fn response_accepts_each_offered_extension_once() {
    let offers: Vec<_> = ExtensionList::parse_value(b"a; x=1, b").unwrap().collect();
    let mut response = ExtensionResponse::default();
    response
        .accept(&offers[0])
        .unwrap()
        .param("x", Some("1"))
        .unwrap();
    assert!(response.accept(&offers[0]).is_err(), "twice");
    response.accept(&offers[1]).unwrap();
    assert!(response.accept(&offers[1]).unwrap_err() == NegotiationFailed);
    assert_eq!(response.as_str(), "a; x=1, b");
    let mut fresh = ExtensionResponse::default();
    assert!(
        fresh
            .accept(&offers[0])
            .unwrap()
            .param("x", Some("a b"))
            .is_err(),
        "not a token"
    );
}

#[test]
fn offers_parse_into_names_and_params() {
    let list: Vec<_> = ExtensionList::parse_value(b" , foo ; a ; b = 1 ;c=\"x\\yz\",bar,")
        .unwrap()
        .collect();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].name(), "foo");
    let params: Vec<_> = list[0].params().collect();
    assert_eq!(params.len(), 3);
    assert_eq!((params[0].name, params[0].value), ("a", None));
    assert_eq!(params[1].value.unwrap().as_str(), Some("1"));
    assert_eq!(params[2].value.unwrap().as_str(), None, "needs unescaping");
    assert_eq!(params[2].value.unwrap().bytes().collect::<Vec<_>>(), b"xyz");
    assert!(params[2].value.unwrap().eq_ignore_ascii_case("XYZ"));
    assert_eq!(list[1].name(), "bar");
    assert_eq!(list[1].params().count(), 0);
    assert!(ExtensionList::parse_value(b"a;").is_none());
}

#[test]
fn parse_u32_refuses_signs_and_leading_zeros() {
    let values: Vec<Option<u32>> =
        ExtensionList::parse_value(b"e; a=10; b=010; c=+1; d=99999999999; e=\"15\"")
            .unwrap()
            .next()
            .unwrap()
            .params()
            .map(|p| p.value.unwrap().parse_u32())
            .collect();
    assert_eq!(values, [Some(10), None, None, None, Some(15)]);
}
