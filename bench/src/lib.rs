//! Switchyard benchmarks and load generation (work in progress).
