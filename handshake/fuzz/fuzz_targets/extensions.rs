//! The Sec-WebSocket-Extensions grammar over arbitrary bytes: never a panic; whatever parses
//! can be re-serialised into a value that parses to the same extensions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_handshake::*;

fuzz_target!(|data: &[u8]| {
    let Some(list) = ExtensionList::parse_value(data) else { return };
    let mut response = ExtensionResponse::default();
    let mut expected = Vec::new();
    for extension in list {
        let params: Vec<(String, Option<String>)> = extension
            .params()
            .map(|p| (p.name.to_string(), p.value.map(|v| v.bytes().map(char::from).collect())))
            .collect();
        for (_, value) in &params {
            if let Some(value) = value {
                assert!(!value.is_empty());
            }
        }
        let Ok(mut accepted) = response.accept(&extension) else { continue };
        let mut fits = true;
        for (name, value) in &params {
            fits &= accepted.param(name, value.as_deref()).is_ok();
        }
        if !fits {
            return;
        }
        expected.push((extension.name().to_string(), params));
    }
    let reparsed: Vec<(String, Vec<(String, Option<String>)>)> = ExtensionList::parse_value(response.as_str().as_bytes())
        .expect("our own answer parses")
        .map(|e| {
            (
                e.name().to_string(),
                e.params().map(|p| (p.name.to_string(), p.value.map(|v| v.bytes().map(char::from).collect()))).collect(),
            )
        })
        .collect();
    assert_eq!(reparsed, expected);
});
