//! permessage-deflate negotiation (RFC 7692 section 7): the server's `DeflateNegotiator`
//! negotiator through the real `Acceptor`, and the client's `DeflateOffer` against real 101s.

use switchyard_handshake::*;

fn request(offer_lines: &[&str]) -> String {
    let extra: String = offer_lines
        .iter()
        .map(|l| format!("Sec-WebSocket-Extensions: {l}\r\n"))
        .collect();
    format!(
        "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Runs the acceptor with `policy` on a request carrying `offer_lines`; returns what was
/// agreed and the Sec-WebSocket-Extensions answer ("" if none).
fn negotiate_with(policy: DeflatePolicy, offer_lines: &[&str]) -> (Option<DeflateParams>, String) {
    let raw = request(offer_lines);
    let acceptor = Acceptor::new().extensions(DeflateNegotiator::new(policy).unwrap());
    let mut parser = acceptor.parser();
    let mut headers = [EMPTY_HEADER; 16];
    let mut out = [0u8; 1024];
    let decision = acceptor
        .accept(&mut parser, raw.as_bytes(), &mut headers, &mut out)
        .unwrap()
        .complete()
        .unwrap();
    let Decision::Switch(switch) = decision else {
        panic!("{decision:?}");
    };
    let Switched::WebSocket { extensions, .. } = switch.protocol else {
        panic!("not a WebSocket switch");
    };
    let response = String::from_utf8(switch.response.to_vec()).unwrap();
    let fields = response
        .lines()
        .filter(|l| {
            l.to_ascii_lowercase()
                .starts_with("sec-websocket-extensions:")
        })
        .count();
    assert!(fields <= 1, "{response}");
    let answer = response
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Extensions: "))
        .unwrap_or("")
        .to_string();
    (extensions, answer)
}

fn negotiate(offer_lines: &[&str]) -> (Option<DeflateParams>, String) {
    negotiate_with(DeflatePolicy::default(), offer_lines)
}

fn defaults() -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    }
}

#[test]
fn default_params_are_the_bare_agreement() {
    assert_eq!(DeflateParams::default(), defaults());
}

#[test]
fn bare_offer_gets_bare_answer() {
    assert_eq!(
        negotiate(&["permessage-deflate"]),
        (Some(defaults()), "permessage-deflate".into())
    );
}

/// What Chromium and Firefox send: the server may limit the client's window but need not.
#[test]
fn browser_offer() {
    assert_eq!(
        negotiate(&["permessage-deflate; client_max_window_bits"]),
        (Some(defaults()), "permessage-deflate".into())
    );
}

#[test]
fn no_offer_no_answer() {
    assert_eq!(negotiate(&[]), (None, String::new()));
}

#[test]
fn disabled_policy_declines_everything() {
    let policy = DeflatePolicy {
        enabled: false,
        ..DeflatePolicy::default()
    };
    assert_eq!(
        negotiate_with(policy, &["permessage-deflate"]),
        (None, String::new())
    );
}

/// Section 7: an offer with an unknown, repeated or invalid parameter is declined, and the next
/// offer in the client's order of preference is considered.
#[test]
fn bad_offers_are_declined_and_the_next_taken() {
    let bad = [
        "permessage-deflate; foo",
        "permessage-deflate; foo=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=true",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits=+9",
        "permessage-deflate; server_max_window_bits=abc",
        "permessage-deflate; client_max_window_bits=0",
        "permessage-deflate; client_max_window_bits=4294967305",
        "permessage-deflate; client_max_window_bits=\"16\"",
    ];
    for offer in bad {
        assert_eq!(negotiate(&[offer]), (None, String::new()), "{offer}");
        let (agreed, answer) = negotiate(&[offer, "permessage-deflate; server_max_window_bits=11"]);
        assert_eq!(
            answer, "permessage-deflate; server_max_window_bits=11",
            "{offer}"
        );
        assert_eq!(agreed.unwrap().server_max_window_bits, 11);
    }
}

#[test]
fn preference_order_spans_header_lines() {
    let (agreed, answer) = negotiate(&[
        "x-webkit-deflate-frame, permessage-deflate; unknown",
        "permessage-deflate; server_max_window_bits=9, permessage-deflate",
    ]);
    assert_eq!(answer, "permessage-deflate; server_max_window_bits=9");
    assert_eq!(agreed.unwrap().server_max_window_bits, 9);
}

/// Unknown extensions are never echoed, whatever their position.
#[test]
fn other_extensions_are_not_echoed() {
    let (_, answer) = negotiate(&["x-custom; a=1, permessage-deflate, x-webkit-deflate-frame"]);
    assert_eq!(answer, "permessage-deflate");
}

#[test]
fn quoted_and_case_insensitive_forms_are_understood() {
    let (agreed, answer) = negotiate(&["Permessage-Deflate; Server_Max_Window_Bits=\"10\""]);
    assert_eq!(answer, "Permessage-Deflate; server_max_window_bits=10");
    assert_eq!(agreed.unwrap().server_max_window_bits, 10);
}

/// Section 7.1.1: both no-context-takeover flags are echoed when offered.
#[test]
fn context_takeover_flags_are_echoed() {
    let (agreed, answer) =
        negotiate(&["permessage-deflate; client_no_context_takeover; server_no_context_takeover"]);
    assert_eq!(
        answer,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    );
    let agreed = agreed.unwrap();
    assert!(agreed.server_no_context_takeover && agreed.client_no_context_takeover);
}

/// Policy may add both flags unasked (sections 7.1.1.1 and 7.1.1.2 allow it).
#[test]
fn policy_adds_no_context_takeover() {
    let policy = DeflatePolicy {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflatePolicy::default()
    };
    let (agreed, answer) = negotiate_with(policy, &["permessage-deflate"]);
    assert_eq!(
        answer,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    );
    let agreed = agreed.unwrap();
    assert!(agreed.server_no_context_takeover && agreed.client_no_context_takeover);
}

/// Section 7.1.2.1: the answer's server_max_window_bits is at most the offer's; a smaller
/// policy window is announced even unasked.
#[test]
fn server_window_is_the_smaller_of_offer_and_policy() {
    let policy = DeflatePolicy {
        server_max_window_bits: 12,
        ..DeflatePolicy::default()
    };
    for (offer, expected) in [
        ("permessage-deflate", 12),
        ("permessage-deflate; server_max_window_bits=10", 10),
        ("permessage-deflate; server_max_window_bits=14", 12),
        ("permessage-deflate; server_max_window_bits=8", 8),
    ] {
        let (agreed, answer) = negotiate_with(policy, &[offer]);
        assert_eq!(agreed.unwrap().server_max_window_bits, expected, "{offer}");
        assert_eq!(
            answer,
            format!("permessage-deflate; server_max_window_bits={expected}")
        );
    }
    // With the default policy an offered limit is answered as given.
    let (_, answer) = negotiate(&["permessage-deflate; server_max_window_bits=15"]);
    assert_eq!(answer, "permessage-deflate; server_max_window_bits=15");
}

/// Section 7.1.2.2: client_max_window_bits may be answered only if offered; the client's value
/// is a hint we may lower.
#[test]
fn client_window_only_when_offered() {
    let policy = DeflatePolicy {
        client_max_window_bits: 10,
        ..DeflatePolicy::default()
    };
    for (offer, expected, answer) in [
        ("permessage-deflate", 15, "permessage-deflate"),
        (
            "permessage-deflate; client_max_window_bits",
            10,
            "permessage-deflate; client_max_window_bits=10",
        ),
        (
            "permessage-deflate; client_max_window_bits=9",
            9,
            "permessage-deflate; client_max_window_bits=9",
        ),
        (
            "permessage-deflate; client_max_window_bits=12",
            10,
            "permessage-deflate; client_max_window_bits=10",
        ),
    ] {
        let (agreed, got) = negotiate_with(policy, &[offer]);
        assert_eq!(agreed.unwrap().client_max_window_bits, expected, "{offer}");
        assert_eq!(got, answer);
    }
    // Default policy: the client's own hint is what it will use.
    let (agreed, answer) = negotiate(&["permessage-deflate; client_max_window_bits=11"]);
    assert_eq!(agreed.unwrap().client_max_window_bits, 11);
    assert_eq!(answer, "permessage-deflate; client_max_window_bits=11");
}

#[test]
fn policy_ranges_are_checked() {
    for (policy, error) in [
        (
            DeflatePolicy {
                server_max_window_bits: 7,
                ..DeflatePolicy::default()
            },
            DeflatePolicyError::WindowBits(7),
        ),
        (
            DeflatePolicy {
                client_max_window_bits: 16,
                ..DeflatePolicy::default()
            },
            DeflatePolicyError::WindowBits(16),
        ),
    ] {
        assert_eq!(DeflateNegotiator::new(policy), Err(error));
    }
}

// ---- client side ----

fn offer_text(offer: &DeflateOffer) -> String {
    let mut buf = [0u8; 128];
    offer.write(&mut buf).unwrap().to_string()
}

#[test]
fn client_offers() {
    assert_eq!(
        offer_text(&DeflateOffer::default()),
        "permessage-deflate; client_max_window_bits"
    );
    let full = DeflateOffer {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: Some(10),
        client_max_window_bits: Some(9),
    };
    assert_eq!(
        offer_text(&full),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=10; client_max_window_bits=9"
    );
    let none = DeflateOffer {
        client_max_window_bits: None,
        ..DeflateOffer::default()
    };
    assert_eq!(offer_text(&none), "permessage-deflate");
    let mut small = [0u8; 10];
    assert_eq!(
        DeflateOffer::default().write(&mut small),
        Err(InsufficientSize { required: 42 })
    );
}

/// Checks `answer` (a Sec-WebSocket-Extensions value) as the client that sent `offer`.
fn verify(
    offer: &DeflateOffer,
    answer: &str,
) -> Result<Option<DeflateParams>, DeflateResponseError> {
    offer.verify(ExtensionList::parse_value(answer.as_bytes()).unwrap())
}

#[test]
fn client_accepts_valid_answers() {
    let offer = DeflateOffer::default();
    assert_eq!(verify(&offer, ""), Ok(None));
    assert_eq!(verify(&offer, "permessage-deflate"), Ok(Some(defaults())));
    let agreed = verify(
        &offer,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=9; client_max_window_bits=8",
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        agreed,
        DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 9,
            client_max_window_bits: 8,
        }
    );
    // Our own hints hold even if the server does not repeat them.
    let hinted = DeflateOffer {
        client_no_context_takeover: true,
        client_max_window_bits: Some(10),
        ..DeflateOffer::default()
    };
    let agreed = verify(&hinted, "permessage-deflate").unwrap().unwrap();
    assert!(agreed.client_no_context_takeover);
    assert_eq!(agreed.client_max_window_bits, 10);
}

#[test]
fn client_rejects_invalid_answers() {
    let asked = DeflateOffer {
        server_no_context_takeover: true,
        server_max_window_bits: Some(10),
        ..DeflateOffer::default()
    };
    let plain = DeflateOffer {
        client_max_window_bits: None,
        ..DeflateOffer::default()
    };
    use DeflateResponseError::*;
    for (offer, answer, error) in [
        (
            &DeflateOffer::default(),
            "permessage-deflate; foo",
            UnknownParameter,
        ),
        (
            &DeflateOffer::default(),
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            DuplicateParameter,
        ),
        (
            &DeflateOffer::default(),
            "permessage-deflate; server_max_window_bits=16",
            InvalidValue,
        ),
        (
            &DeflateOffer::default(),
            "permessage-deflate; client_max_window_bits",
            InvalidValue,
        ),
        (
            &plain,
            "permessage-deflate; client_max_window_bits=10",
            UnofferedClientWindowBits,
        ),
        (
            &asked,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
            ServerWindowAboveOffer,
        ),
        (
            &asked,
            "permessage-deflate; server_no_context_takeover",
            ServerWindowBitsMissing,
        ),
        (
            &asked,
            "permessage-deflate; server_max_window_bits=10",
            ServerNoContextTakeoverMissing,
        ),
        (
            &DeflateOffer::default(),
            "permessage-deflate, permessage-deflate",
            DuplicateParameter,
        ),
    ] {
        assert_eq!(verify(offer, answer), Err(error), "{answer}");
    }
}

/// Client and server handshakes against each other: what the server agreed is what the client
/// reads from the 101.
#[test]
fn client_and_server_agree() {
    let offers = [
        DeflateOffer::default(),
        DeflateOffer {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: Some(9),
            client_max_window_bits: Some(12),
        },
        DeflateOffer {
            server_max_window_bits: Some(8),
            client_max_window_bits: None,
            ..DeflateOffer::default()
        },
    ];
    let policies = [
        DeflatePolicy::default(),
        DeflatePolicy {
            server_max_window_bits: 11,
            client_max_window_bits: 10,
            client_no_context_takeover: true,
            ..DeflatePolicy::default()
        },
    ];
    for offer in &offers {
        for policy in policies {
            let mut offer_buf = [0u8; 128];
            let value = offer.write(&mut offer_buf).unwrap();
            let client = ClientHandshake::new(
                ClientRequest::new("h", "/ws").extensions(value),
                WebSocketKey::random().unwrap(),
            )
            .unwrap();
            let mut request = [0u8; 1024];
            let n = client.write_request(&mut request).unwrap();
            let acceptor = Acceptor::new().extensions(DeflateNegotiator::new(policy).unwrap());
            let mut parser = acceptor.parser();
            let mut headers = [EMPTY_HEADER; 16];
            let mut out = [0u8; 1024];
            let Status::Complete(Decision::Switch(switch)) = acceptor
                .accept(&mut parser, &request[..n], &mut headers, &mut out)
                .unwrap()
            else {
                panic!("no switch");
            };
            let Switched::WebSocket {
                extensions: server_side,
                ..
            } = switch.protocol
            else {
                panic!("not WebSocket");
            };
            let server_side = server_side.expect("agreed");
            let response = switch.response.to_vec();
            let mut client = client;
            let mut headers = [EMPTY_HEADER; 16];
            let Status::Complete(accepted) = client.read_response(&response, &mut headers).unwrap()
            else {
                panic!("partial");
            };
            let client_side = offer.verify(accepted.extensions).unwrap().expect("agreed");
            let wire = |p: DeflateParams| {
                (
                    p.server_no_context_takeover,
                    p.client_no_context_takeover,
                    p.server_max_window_bits,
                    p.client_max_window_bits,
                )
            };
            assert_eq!(wire(client_side), wire(server_side), "{offer:?} {policy:?}");
        }
    }
}
