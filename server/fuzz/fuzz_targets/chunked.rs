//! The publish API's chunked body decoder (`switchyard::chunked`, sans-IO) over arbitrary
//! bytes.
//!
//! Properties: never a panic; the body never passes the maximum; the same bytes fed whole and
//! split at fuzzer-chosen points give the same result (the same body, the same bytes used, or
//! the same error); after `Complete(n)`, `n` is within the input.
//!
//! Input: a byte for the maximum body size (`byte * 4`), a seed byte for the cut points (steps
//! of up to `seed % 16 + 1` bytes), then the body as a client sends it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::chunked::{ChunkedDecoder, Progress};

fn run(input: &[u8], max: usize, step: Option<usize>) -> (Result<Option<usize>, u16>, Vec<u8>) {
    let mut d = ChunkedDecoder::new(max);
    let mut out = Vec::new();
    let mut pos = 0;
    let mut i = 0usize;
    loop {
        let n = match step {
            None => input.len() - pos,
            Some(s) => ((i * 7 + 3) % s + 1).min(input.len() - pos),
        };
        i += 1;
        match d.decode(&input[pos..pos + n], &mut out) {
            Ok(Progress::Complete(used)) => {
                assert!(used <= n);
                assert!(d.is_done());
                return (Ok(Some(pos + used)), out);
            }
            Ok(Progress::Partial) => {}
            Err(e) => return (Err(e.status()), out),
        }
        assert!(out.len() <= max, "body past the maximum");
        pos += n;
        if pos == input.len() {
            return (Ok(None), out);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [max, seed, input @ ..] = data else { return };
    let max = usize::from(*max) * 4;
    let (whole, body) = run(input, max, None);
    assert!(body.len() <= max);
    let (split, split_body) = run(input, max, Some(usize::from(*seed) % 16 + 1));
    assert_eq!(whole, split, "whole and split disagree");
    if whole.is_ok() {
        assert_eq!(body, split_body);
    }
});
