//! Placeholder: replaced by the counting-allocator test.
fn main() {}
