//! Sans-IO RFC 6455 framing codec (work in progress).
