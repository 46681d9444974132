//! The WebSocket phase: decoding with the frame crate and the echo, broadcast and bridge apps.
//!
//! Hot path (echo of small messages): netio hands out its own read buffer mutably, the codec
//! unmasks each frame in place there and hands the payload out borrowed; the reply header and
//! that payload go to netio as one vectored write, corked with every other reply of the same
//! read into one `send`. No allocation, and no copy beyond netio's cork. An idle connection
//! keeps no decoder: the reactor lends it its spare one for the read, and the decoder is boxed
//! into the connection only if the read ends inside a frame or a fragmented message. Every frame
//! that goes out is encoded by the connection's `frame::Session`, which also refuses anything
//! after our close frame: the server keeps no WebSocket state of its own.

use std::borrow::Cow;
use std::sync::Arc;

use switchyard_frame::deflate::{DeflateConfig, PermessageDeflate};
use switchyard_frame::{Decoder, Event, HeaderBytes, OpCode, Progress, Role, Session};
use switchyard_handshake::DeflateParams;
use switchyard_netio::{Close, ConnId, Ctx, SharedBytes};

use crate::conn::{Bridged, Conn};
use crate::metrics::CloseBy;
use crate::reactor::{Message, Reactor};
use crate::routes::{App, RouteId};

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
    /// After a WebSocket 101: the connection becomes `Conn::Ws`, or `WsBridge` tied to
    /// `backend` (already connected: see `bridge.rs`), and bytes that came with the head are its
    /// first frames.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_websocket(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        conn: &mut Conn,
        route: RouteId,
        deflate: Option<DeflateParams>,
        backend: Option<ConnId>,
        leftover: &[u8],
    ) {
        let mut ws = self.register_ws(ctx, id, route);
        if let Some(agreed) = deflate {
            // A connection with an extension keeps its decoder for life (the contexts live in it).
            let mut decoder = Decoder::new(self.shared.codec);
            let config = DeflateConfig::from(agreed);
            match PermessageDeflate::new(Role::Server, config, self.shared.compression) {
                Ok(ext) => {
                    decoder.set_extension(Box::new(ext));
                    ws.decoder = Some(Box::new(decoder));
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
        *conn = match backend {
            Some(backend) => Conn::WsBridge(Box::new(Bridged { ws, backend })),
            None => Conn::Ws(ws),
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
    /// leftover): the decoder unmasks them in place and small messages are echoed from there.
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
                    App::Broadcast { .. } => Sink::Broadcast(ws.route),
                    _ => Sink::Echo,
                };
                (ws, sink)
            }
            Conn::WsBridge(b) => (&mut b.ws, Sink::Bridge(b.backend)),
            _ => return,
        };
        self.touch(ctx, ws);
        // A connection at a message boundary has no decoder: lend it the reactor's spare one,
        // which is always in the fresh state (an idle decoder is indistinguishable from a new
        // one), so nothing is built or moved per read.
        let mut decoder = match ws.decoder.take() {
            Some(own) => own,
            None => self
                .spare_decoder
                .take()
                .unwrap_or_else(|| Box::new(Decoder::new(self.shared.codec))),
        };
        // The memory budget: what this read may make the connection hold (see budget.rs).
        let held_before = decoder.heap_bytes();
        decoder.set_memory_limit(self.read_allowance(ctx, id, held_before));
        // Echo replies of a deflate connection go through its compressor; everything else is
        // sent uncompressed (RFC 7692 lets each message choose).
        let compress_echo = sink == Sink::Echo && decoder.has_extension();
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
            let consumed = match decoder.decode(&mut ws.session, rest) {
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
                // `ref`: the event stays where decode wrote it.
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
                    // The session refuses the header once our close is out.
                    if let Some(c) = borrowed.and_then(|(opcode, payload)| {
                        let header = ws.session.encode_header(opcode, true, payload.len()).ok()?;
                        in_place_echo(header, payload, rest_start, rest_len, pos, consumed, &run)
                    }) {
                        compact = Some(c);
                    } else if !ws.session.can_send_message()
                        && !matches!(event, Event::Close { .. })
                    {
                        // After our close nothing more goes out: data is dropped (pings after
                        // our close are not even delivered).
                    } else {
                        // Anything else written must follow the replies built so far.
                        if !run.is_empty() {
                            let _ = ctx.write(id, &done[run.clone()]);
                            run = run.end..run.end;
                        }
                        let data = match event {
                            Event::Text(text) => Some((OpCode::Text, text.as_bytes())),
                            Event::Binary(bytes) => Some((OpCode::Binary, &bytes[..])),
                            Event::Ping(payload) => {
                                if let Ok(pong) = ws.session.encode_pong(payload) {
                                    let _ = ctx.write(id, &pong);
                                }
                                None
                            }
                            Event::Pong(_) => None,
                            Event::Close { code, reply, .. } => {
                                let code = code.map_or(1005, |c| c.0);
                                // A reply means the client closed first.
                                if let Some(reply) = reply {
                                    self.metrics().close(CloseBy::Client, code);
                                    let _ = ctx.write(id, reply);
                                }
                                peer_closed = Some(code);
                                None
                            }
                        };
                        if let Some((opcode, payload)) = data {
                            tally.messages += 1;
                            tally.bytes += payload.len() as u64;
                            if compress_echo {
                                self.echo_compressed(
                                    ctx,
                                    id,
                                    &mut ws.session,
                                    &mut decoder,
                                    opcode,
                                    payload,
                                    &mut tally,
                                );
                            } else {
                                self.on_message(ctx, id, &mut ws.session, sink, opcode, payload);
                                if sink == Sink::Echo {
                                    tally.echoed += 1;
                                    tally.echoed_bytes += payload.len() as u64;
                                }
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
        let held_after = match (&failed, peer_closed) {
            (None, None) => decoder.heap_bytes(),
            _ => 0,
        };
        if held_before != 0 || held_after != 0 {
            let done = tally.messages > 0;
            self.budget.update(id, held_after, ctx.now(), done);
        }
        if let Some(failure) = failed {
            let code = failure.error.close_code().0;
            log::debug!("closing {id:?} with {code}: {}", failure.error);
            if let switchyard_frame::Error::OverMemoryLimit { .. } = failure.error {
                self.metrics().budget_too_big.inc();
                log::warn!("closing {id:?} with 1009: message over the memory budget");
            }
            // A close frame means ours had not been sent yet.
            if let Some(frame) = failure.close_frame {
                self.metrics().close(CloseBy::Server, code);
                let _ = ctx.write(id, frame.as_bytes());
            }
            self.end_ws(ctx, id, conn);
            return;
        }
        if peer_closed.is_some() {
            self.end_ws(ctx, id, conn);
            return;
        }
        // Keep the decoder only if it holds state between reads; an idle one without extension
        // is as good as a new one (frame's contract), so it serves the next connection's read.
        if decoder.is_idle() && !decoder.has_extension() && pos == input.len() {
            self.spare_decoder = Some(decoder);
        } else {
            ws.decoder = Some(decoder);
        }
    }

    /// A complete data message from `id` (whose session is `session`), for its app.
    fn on_message(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        session: &mut Session,
        sink: Sink,
        opcode: OpCode,
        payload: &[u8],
    ) {
        match sink {
            Sink::Echo => {
                if let Ok(header) = session.encode_header(opcode, true, payload.len()) {
                    let _ = ctx.write_vectored(id, &[header.as_bytes(), payload]);
                }
            }
            Sink::Broadcast(route) => {
                let frame = self.shared_frame(opcode, payload);
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
                self.send_to_backend(ctx, backend, payload);
            }
        }
    }

    /// One message as a whole frame in shared bytes, encoded once for every subscriber on
    /// every core: written in the reactor's scratch buffer, then copied into the one
    /// reference-counted allocation.
    fn shared_frame(&mut self, opcode: OpCode, payload: &[u8]) -> SharedBytes {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        out.resize(switchyard_frame::shared_frame_len(payload.len()), 0);
        let len = switchyard_frame::encode_shared_frame(opcode, payload, &mut out).unwrap_or(0);
        let frame = SharedBytes::new(Arc::from(&out[..len]));
        self.scratch = recycle(out);
        frame
    }

    /// Echo through the connection's permessage-deflate compressor.
    #[allow(clippy::too_many_arguments)]
    fn echo_compressed(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        id: ConnId,
        session: &mut Session,
        decoder: &mut Decoder,
        opcode: OpCode,
        payload: &[u8],
        tally: &mut Tally,
    ) {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        match session.encode_message(decoder, opcode, payload, &mut out) {
            Ok(()) => {
                let _ = ctx.write(id, &out);
                tally.echoed += 1;
                tally.echoed_bytes += payload.len() as u64;
            }
            Err(e) => log::warn!("compressing an echo for {id:?}: {e}"),
        }
        self.scratch = recycle(out);
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
    header: HeaderBytes,
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

/// A scratch buffer back after use: a 16 MiB message must not pin 16 MiB per reactor.
fn recycle(out: Vec<u8>) -> Vec<u8> {
    if out.capacity() > 1 << 20 {
        Vec::new()
    } else {
        out
    }
}
