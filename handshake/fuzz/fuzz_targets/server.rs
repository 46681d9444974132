//! Request parsing and upgrade negotiation over arbitrary bytes, fed in two pieces: never a
//! panic, the split never changes the answer, and every answer is a well-formed response.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_handshake::*;

struct Tunnel;

impl UpgradeProtocol for Tunnel {
    fn token(&self) -> &str {
        "tcp"
    }

    fn check(&self, request: &Request<'_>, _: &UpgradeOffer<'_>, response: &mut ResponseHeaders) -> Verdict {
        match request.path().len() % 3 {
            0 => {
                let _ = response.push("X-Tunnel", request.target().as_bytes());
                Verdict::Accept
            }
            1 => Verdict::Decline,
            _ => Verdict::Reject(403),
        }
    }
}

/// Accepts the first offer of each extension whose parameters all have values that are numbers,
/// echoing them: exercises the whole seam.
struct EchoNumbers;

impl ExtensionNegotiator for EchoNumbers {
    type Agreed = usize;

    fn negotiate(&self, offers: ExtensionList<'_>, response: &mut ExtensionResponse) -> Result<usize, NegotiationFailed> {
        let mut accepted = 0;
        for offer in offers {
            if response.accepted().any(|e| e.name().eq_ignore_ascii_case(offer.name())) {
                continue;
            }
            if !offer.params().all(|p| p.value.is_some_and(|v| v.parse_u32().is_some())) {
                continue;
            }
            let mut answer = response.accept(&offer)?;
            for param in offer.params() {
                let value = param.value.and_then(|v| v.parse_u32()).unwrap_or(0).to_string();
                answer.param(param.name, Some(&value))?;
            }
            accepted += 1;
        }
        Ok(accepted)
    }
}

fn acceptor() -> Acceptor<EchoNumbers> {
    let config = WebSocketConfig::default()
        .subprotocols(["chat", "superchat"])
        .origin(OriginPolicy::allow_list(["http://example.com"]));
    let mut acceptor = Acceptor::new()
        .websocket(config)
        .limits(Limits::default().max_head_bytes(2048))
        .extensions(EchoNumbers);
    acceptor.register(Tunnel).unwrap();
    acceptor
}

/// The decision's observable result: response bytes, or the plain request's head length.
fn run(acceptor: &Acceptor<EchoNumbers>, data: &[u8], cut: usize) -> Option<(Vec<u8>, usize, usize)> {
    let mut parser = acceptor.parser();
    let mut out = [0u8; 2048];
    for end in [cut, data.len()] {
        let mut headers = [EMPTY_HEADER; 32];
        match acceptor.accept(&mut parser, &data[..end], &mut headers, &mut out) {
            Err(too_small) => panic!("2 KiB too small: {too_small}"),
            Ok(Status::Partial) => continue,
            Ok(Status::Complete(decision)) => {
                return Some(match decision {
                    Decision::Switch(s) => {
                        assert!(s.response.starts_with(b"HTTP/1.1 1"));
                        assert!(s.response.ends_with(b"\r\n\r\n"));
                        assert_eq!(s.leftover, &data[s.request.head_len()..end]);
                        (s.response.to_vec(), s.request.head_len(), 101)
                    }
                    Decision::Reject(r) => {
                        assert!(r.response.starts_with(format!("HTTP/1.1 {} ", r.status).as_bytes()));
                        (r.response.to_vec(), 0, usize::from(r.status))
                    }
                    Decision::NotUpgrade(request) => {
                        assert_eq!(request.leftover(), &data[request.head_len()..end]);
                        (Vec::new(), request.head_len(), 0)
                    }
                });
            }
        }
    }
    None
}

fuzz_target!(|input: &[u8]| {
    let Some((&first, data)) = input.split_first() else { return };
    let acceptor = acceptor();
    let whole = run(&acceptor, data, data.len());
    let cut = usize::from(first).min(data.len());
    let split = run(&acceptor, data, cut);
    match (&whole, &split) {
        // A split that completes earlier sees fewer bytes after the head, but the same head:
        // the decision and response must match.
        (Some(w), Some(s)) => assert_eq!(w, s, "split at {cut} changed the decision"),
        (None, None) => {}
        _ => panic!("split at {cut} changed completeness"),
    }
});
