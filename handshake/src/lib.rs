//! Sans-IO HTTP/1.1 Upgrade and WebSocket opening handshake (work in progress).
