//! The WebSocket phase: decoding with the frame crate and the echo, broadcast and bridge apps.
//!
//! Hot path (echo of small messages): netio hands out its own read buffer mutably, the codec
//! unmasks each frame in place there and hands the payload out borrowed; the reply header and
//! that payload go to netio as one vectored write, corked with every other reply of the same
//! read into one `sendmsg`. No allocation, and no copy beyond netio's cork. An idle connection
//! keeps no codec: the reactor lends it its spare one for the read, and the codec is boxed into
//! the connection only if the read ends inside a frame or a fragmented message.

use std::borrow::Cow;

use switchyard_frame::deflate::{DeflateConfig, PermessageDeflate};
use switchyard_frame::{Connection as Codec, Event, HeaderBytes, OpCode, Progress, Role};
use switchyard_handshake::DeflateParams;
use switchyard_netio::{Close, ConnId, Ctx, SharedBytes};

use crate::conn::{ws_flag, Bridged, Conn};
use crate::metrics::CloseBy;
use crate::reactor::{Message, Reactor};
use crate::routes::{App, RouteId};
use crate::wire;

/// What the app does with a data message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sink {
    /// Back to the sender.
    Echo,
    /// To every subscriber of this route, on every reactor.
    Broadcast(RouteId),
    /// To this backend connection.
    Bridge(ConnId),
}

/// Message counts of one read, added to the metrics once per read rather than per message.
#[derive(Default)]
struct Tally {
    messages: u64,
    bytes: u64,
    echoed: u64,
    echoed_bytes: u64,
}

impl Reactor {
    /// After a WebSocket 101: the connection becomes `Conn::Ws` (or `WsBridge`), and bytes that
    /// came with the head are its first frames.
    pub(crate) fn start_websocket(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        conn: &mut Conn,
        route: RouteId,
        deflate: Option<DeflateParams>,
        leftover: &[u8],
    ) {
        let mut ws = self.register_ws(ctx, id, route);
        if let Some(agreed) = deflate {
            // A connection with an extension keeps its codec for life (the contexts live in it).
            let mut codec = Codec::new(Role::Server, self.shared.codec);
            let config = DeflateConfig::from(agreed);
            match PermessageDeflate::new(Role::Server, config, self.shared.compression) {
                Ok(ext) => {
                    codec.set_extension(Box::new(ext));
                    ws.codec = Some(Box::new(codec));
                    ws.flags |= ws_flag::DEFLATE;
                }
                Err(e) => {
                    // The handshake crate only agrees valid parameters; refuse politely anyway.
                    log::warn!("deflate parameters {agreed:?} refused by the codec: {e:?}");
                    *conn = Conn::Ws(ws);
                    if let Some(ws) = conn.ws_mut() {
                        self.close_ws(ctx, id, ws, 1011, "extension error");
                    }
                    self.finish(ctx, id, conn);
                    return;
                }
            }
        }
        *conn = match self.shared.config.routes.app(route).clone() {
            App::Bridge { addrs, target } => match self.connect_backend(ctx, id, &addrs, true) {
                Some(backend) => Conn::WsBridge(Box::new(Bridged { ws, backend })),
                None => {
                    log::debug!("bridge {target}: cannot connect");
                    let mut ws = ws;
                    self.close_ws(ctx, id, &mut ws, 1011, "backend unreachable");
                    let mut c = Conn::Ws(ws);
                    self.finish(ctx, id, &mut c);
                    *conn = c;
                    return;
                }
            },
            _ => Conn::Ws(ws),
        };
        if !leftover.is_empty() {
            // Frames that came in the same read as the head (rare: clients wait for the 101).
            // They are borrowed immutably from the head's buffer and the codec unmasks in
            // place, so they take one copy into the reactor's scratch buffer.
            let mut input = std::mem::take(&mut self.input);
            input.clear();
            input.extend_from_slice(leftover);
            self.on_ws_data(ctx, id, conn, &mut input);
            if input.capacity() > 64 << 10 {
                input = Vec::new();
            }
            self.input = input;
        }
    }

    /// Bytes for a WebSocket connection, straight from netio's read buffer (or the head's
    /// leftover): the codec unmasks them in place and small messages are echoed from there.
    pub(crate) fn on_ws_data(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        conn: &mut Conn,
        input: &mut [u8],
    ) {
        let (ws, sink) = match conn {
            Conn::Ws(ws) => {
                let sink = match self.shared.config.routes.app(ws.route) {
                    App::Broadcast => Sink::Broadcast(ws.route),
                    _ => Sink::Echo,
                };
                (ws, sink)
            }
            Conn::WsBridge(b) => (&mut b.ws, Sink::Bridge(b.backend)),
            _ => return,
        };
        self.touch(ctx, ws);
        // A connection at a message boundary has no codec: lend it the reactor's spare one,
        // which is always in the fresh state (an idle codec is indistinguishable from a new one),
        // so nothing is built or moved per read.
        let mut codec = match ws.codec.take() {
            Some(own) => own,
            None => self
                .spare_codec
                .take()
                .unwrap_or_else(|| Box::new(Codec::new(Role::Server, self.shared.codec))),
        };
        // Echo replies of a deflate connection go through its compressor; everything else is
        // sent uncompressed (RFC 7692 lets each message choose).
        let compress_echo = sink == Sink::Echo && ws.has(ws_flag::DEFLATE);
        let mut pos = 0;
        let mut tally = Tally::default();
        let mut failed = None;
        let mut peer_closed = None;
        // Echo replies built in place, in input already consumed: `input[run]` holds finished
        // server frames, sent as one write. A client frame (header + 4-byte mask + payload) is
        // always longer than our reply to it, so each reply fits where its request was.
        let mut run = 0..0;
        let in_place = sink == Sink::Echo && !compress_echo;
        while pos < input.len() {
            let (done, rest) = input.split_at_mut(pos);
            let rest_start = rest.as_ptr() as usize;
            let rest_len = rest.len();
            // An echo to build in place: (opcode, payload offset in `input`, payload length).
            let mut compact = None;
            // Matched in place: binding the result to a variable first costs a memcpy per
            // message.
            let consumed = match codec.handle_bytes(rest) {
                Err(failure) => {
                    failed = Some(failure);
                    break;
                }
                Ok(Progress {
                    consumed,
                    event: None,
                }) => {
                    pos += consumed;
                    break;
                }
                // `ref`: the event stays where handle_bytes wrote it.
                Ok(Progress {
                    consumed,
                    event: Some(ref event),
                }) => {
                    let borrowed = match event {
                        Event::Text(Cow::Borrowed(s)) if in_place => {
                            Some((OpCode::Text, s.as_bytes()))
                        }
                        Event::Binary(Cow::Borrowed(b)) if in_place => {
                            Some((OpCode::Binary, &b[..]))
                        }
                        _ => None,
                    };
                    if ws.has(ws_flag::CLOSE_SENT) && !matches!(event, Event::Close { .. }) {
                        // After our close nothing more goes out: data and pings are dropped.
                    } else if let Some(c) = borrowed.and_then(|(opcode, payload)| {
                        in_place_echo(opcode, payload, rest_start, rest_len, pos, consumed, &run)
                    }) {
                        compact = Some(c);
                    } else {
                        // Anything else written must follow the replies built so far.
                        if !run.is_empty() {
                            let _ = ctx.write(id, &done[run.clone()]);
                            run = run.end..run.end;
                        }
                        match event {
                            Event::Text(text) => {
                                let bytes = match text {
                                    Cow::Borrowed(s) => s.as_bytes(),
                                    Cow::Owned(s) => s.as_bytes(),
                                };
                                if compress_echo {
                                    self.echo_compressed(
                                        ctx,
                                        id,
                                        &mut codec,
                                        OpCode::Text,
                                        bytes,
                                        &mut tally,
                                    );
                                } else {
                                    self.on_message(ctx, id, sink, OpCode::Text, bytes, &mut tally);
                                }
                            }
                            Event::Binary(bytes) => {
                                if compress_echo {
                                    self.echo_compressed(
                                        ctx,
                                        id,
                                        &mut codec,
                                        OpCode::Binary,
                                        bytes,
                                        &mut tally,
                                    );
                                } else {
                                    self.on_message(
                                        ctx,
                                        id,
                                        sink,
                                        OpCode::Binary,
                                        bytes,
                                        &mut tally,
                                    );
                                }
                            }
                            Event::Ping(payload) => {
                                let h = wire::header(OpCode::Pong, payload.len());
                                let _ = ctx.write_vectored(id, &[h.as_bytes(), payload]);
                            }
                            Event::Pong(_) => {}
                            Event::Close { code, reply, .. } => {
                                let code = code.map_or(1005, |c| c.0);
                                let reply = reply.as_ref();
                                if !ws.has(ws_flag::CLOSE_SENT) {
                                    ws.flags |= ws_flag::CLOSE_SENT;
                                    self.metrics().close(CloseBy::Client, code);
                                    if let Some(reply) = reply {
                                        let _ = ctx.write(id, reply.as_bytes());
                                    }
                                }
                                peer_closed = Some(code);
                            }
                        }
                    }
                    consumed
                }
            };
            if let Some(InPlace {
                header,
                from,
                len,
                to,
            }) = compact
            {
                let h = header.as_bytes();
                // Payload first: the header's place may overlap where the payload was.
                input.copy_within(from..from + len, to + h.len());
                if let [b0, b1] = *h {
                    // Payloads under 126 bytes: two stores beat a call to memcpy.
                    input[to] = b0;
                    input[to + 1] = b1;
                } else {
                    input[to..to + h.len()].copy_from_slice(h);
                }
                run.end = to + h.len() + len;
                tally.messages += 1;
                tally.bytes += len as u64;
                tally.echoed += 1;
                tally.echoed_bytes += len as u64;
            }
            pos += consumed;
            if peer_closed.is_some() {
                break;
            }
        }
        if !run.is_empty() {
            let _ = ctx.write(id, &input[run]);
        }
        if tally.messages > 0 {
            let m = self.metrics();
            m.messages_in.add(tally.messages);
            m.bytes_in.add(tally.bytes);
            // Echo replies carry what came in; broadcast and bridge count their own output.
            m.messages_out.add(tally.echoed);
            m.bytes_out.add(tally.echoed_bytes);
        }
        if let Some(failure) = failed {
            let code = failure.error.close_code().0;
            log::debug!("closing {id:?} with {code}: {}", failure.error);
            if !ws.has(ws_flag::CLOSE_SENT) {
                ws.flags |= ws_flag::CLOSE_SENT;
                self.metrics().close(CloseBy::Server, code);
                if let Some(frame) = failure.close_frame {
                    let _ = ctx.write(id, frame.as_bytes());
                }
            }
            self.end_ws(ctx, id, conn);
            return;
        }
        if peer_closed.is_some() {
            self.end_ws(ctx, id, conn);
            return;
        }
        // Keep the codec only if it holds state between reads.
        // An idle codec without extension is as good as a new one (frame's contract), so it
        // can serve the next connection's read.
        let idle = codec.is_idle() && !codec.has_extension() && pos == input.len();
        if idle {
            self.spare_codec = Some(codec);
        } else {
            ws.codec = Some(codec);
        }
    }

    /// A complete data message from `id`, for its app.
    fn on_message(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        sink: Sink,
        opcode: OpCode,
        payload: &[u8],
        tally: &mut Tally,
    ) {
        tally.messages += 1;
        tally.bytes += payload.len() as u64;
        match sink {
            Sink::Echo => {
                let h = wire::header(opcode, payload.len());
                let _ = ctx.write_vectored(id, &[h.as_bytes(), payload]);
                tally.echoed += 1;
                tally.echoed_bytes += payload.len() as u64;
            }
            Sink::Broadcast(route) => {
                let frame = SharedBytes::new(wire::shared_frame(opcode, payload));
                let me = ctx.reactor_index();
                for mailbox in ctx.mailboxes() {
                    if mailbox.reactor_index() != me {
                        let _ = mailbox.send(Message::Broadcast {
                            route,
                            frame: frame.clone(),
                        });
                    }
                }
                self.deliver(ctx, route, &frame);
            }
            Sink::Bridge(backend) => {
                // websockify: message payloads are the TCP byte stream.
                let _ = ctx.write(backend, payload);
            }
        }
    }

    /// Echo through the connection's permessage-deflate compressor.
    fn echo_compressed(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        codec: &mut Codec,
        opcode: OpCode,
        payload: &[u8],
        tally: &mut Tally,
    ) {
        tally.messages += 1;
        tally.bytes += payload.len() as u64;
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        match codec.encode_message(opcode, payload, &mut out) {
            Ok(()) => {
                let _ = ctx.write(id, &out);
                tally.echoed += 1;
                tally.echoed_bytes += payload.len() as u64;
            }
            Err(e) => log::warn!("compressing an echo for {id:?}: {e:?}"),
        }
        // A 16 MiB echo must not pin 16 MiB per reactor.
        if out.capacity() > 1 << 20 {
            out = Vec::new();
        }
        self.scratch = out;
    }

    /// Ends a WebSocket whose close handshake is done (or failed): flush and close, and close
    /// a bridge's backend too.
    pub(crate) fn end_ws(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, conn: &mut Conn) {
        if let Conn::WsBridge(b) = conn {
            ctx.close(b.backend, Close::AfterFlush);
        }
        self.finish(ctx, id, conn);
    }
}

/// Where an echo reply is built in the input: the payload moves from `from` to just after a
/// header written at `to`.
struct InPlace {
    header: HeaderBytes,
    from: usize,
    len: usize,
    to: usize,
}

/// Whether the reply to a message whose payload the codec left in the input can be built in
/// place: the payload must lie in `rest` (the input from `pos` on, starting at address
/// `rest_start`; not in the codec's own assembly buffer), and header plus payload must fit
/// between the end of the replies built so far (`run.end`) and the end of the bytes this frame
/// consumed, so that nothing unread is overwritten. A frame whose first bytes came in an earlier
/// read may not leave room; it is then written the ordinary way.
fn in_place_echo(
    opcode: OpCode,
    payload: &[u8],
    rest_start: usize,
    rest_len: usize,
    pos: usize,
    consumed: usize,
    run: &std::ops::Range<usize>,
) -> Option<InPlace> {
    let offset = (payload.as_ptr() as usize).checked_sub(rest_start)?;
    let len = payload.len();
    if offset.checked_add(len)? > rest_len {
        return None;
    }
    let header = wire::header(opcode, len);
    if run.end + header.len() + len > pos + consumed {
        return None;
    }
    Some(InPlace {
        header,
        from: pos + offset,
        len,
        to: run.end,
    })
}
