//! Tests of the TLS building blocks.
