//! Thread-per-core, edge-triggered mio reactors (work in progress).
