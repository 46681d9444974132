//! Helpers shared by the bench crate's integration tests.

/// The number after `"key": ` in a flat JSON object (what `switchyard-load --json` prints).
pub fn field(json: &str, key: &str) -> f64 {
    let start = json.find(&format!("\"{key}\": ")).expect(key) + key.len() + 4;
    json[start..]
        .split([',', '}'])
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{key} in {json}"))
}
