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

use std::ops::Range;

use switchyard_frame::deflate::{DeflateConfig, PermessageDeflate};
use switchyard_frame::{CloseCode, Decoder, Event, HeaderBytes, OpCode, Progress, Role, Session};
use switchyard_handshake::DeflateParams;
use switchyard_netio::{Close, ConnId};

use crate::app::{App, ClosedBy, Connection, Message, SendError, UpgradeRequest};
use crate::conn::{Bridged, Conn, WsConn, WsParts};
use crate::metrics::CloseBy;
use crate::published::{shared_window, Published};
use crate::reactor::{tag, Core, Cx};

/// Message counts of one handler call or read, added to the metrics once rather than per
/// message.
#[derive(Default)]
pub(crate) struct Tally {
    pub messages_in: u64,
    pub bytes_in: u64,
    pub messages_out: u64,
    pub bytes_out: u64,
}

/// The replies of one read of uncompressed messages: the ones built in place, over request
/// frames already consumed, are `input[run]` (see [`in_place_echo`]); the handler of the
/// message being handled may choose one more (`compact`, applied once it returns: its
/// payload is borrowed until then). Frames sent while replies are pending go to `after`, so
/// that they follow them on the wire.
#[derive(Default)]
pub(crate) struct Replies {
    run: Range<usize>,
    /// The frame being handled: from `pos`, `consumed` long, within the rest of the input (at
    /// address `rest_start`, `rest_len` long).
    rest_start: usize,
    rest_len: usize,
    pos: usize,
    consumed: usize,
    compact: Option<InPlace>,
    after: Vec<u8>,
}

impl Replies {
    /// Whether replies wait to be written (a frame written now would overtake them).
    fn pending(&self) -> bool {
        self.run.start != self.run.end || self.compact.is_some() || !self.after.is_empty()
    }

    /// Writes `frame` (in pieces) after the pending replies: kept in `after` while some are
    /// pending, else written now.
    fn write_after<A: App>(&mut self, ctx: &mut Cx<'_, A>, id: ConnId, frame: &[&[u8]]) {
        if self.pending() {
            for piece in frame {
                self.after.extend_from_slice(piece);
            }
        } else {
            let _ = ctx.write_vectored(id, frame);
        }
    }
}

/// How a read of WebSocket frames ended.
enum ReadEnd {
    /// Wait for more bytes (the decoder kept or given back).
    More,
    /// The close handshake finished or failed: end the connection.
    Closed,
}

impl<A: App> Core<A> {
    /// After a WebSocket 101 of the app: the connection becomes `Conn::Ws` with the app's
    /// `state`, the app's `open` handler runs, and bytes that came with the head are its first
    /// frames.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_websocket(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
        state: A::State,
        deflate: Option<DeflateParams>,
        request: &UpgradeRequest<'_>,
        subprotocol: Option<&str>,
        leftover: &[u8],
    ) {
        let mut ws = self.register_ws(ctx, id, state);
        let (now, peer) = (ctx.now(), request.peer());
        self.access
            .open(ws.keepalive, now, peer, request.path(), subprotocol);
        if !self.install_deflate(ctx, id, ws.parts(), deflate) {
            *conn = Conn::Ws(ws);
            self.finish(app, ctx, id, conn);
            return;
        }
        if let Some(agreed) = deflate {
            ws.shared_deflate = shared_window(DeflateConfig::from(agreed), self.shared.compression);
        }
        let mut tally = Tally::default();
        let mut handle = Connection {
            ctx,
            core: self,
            id,
            ws: &mut ws,
            decoder: None,
            reply: None,
            tally: &mut tally,
            closing: false,
        };
        app.open(&mut handle, request);
        self.add_tally(ws.keepalive, &tally);
        *conn = Conn::Ws(ws);
        self.leftover_frames(app, ctx, id, conn, leftover);
    }

    /// After a bridge's WebSocket 101: the connection becomes `WsBridge`, tied to `backend`
    /// (already connected: see `bridge.rs`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_bridged_websocket(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
        backend: ConnId,
        deflate: Option<DeflateParams>,
        path: &str,
        leftover: &[u8],
    ) {
        let mut ws = self.register_ws(ctx, id, ());
        let (now, peer) = (ctx.now(), ctx.peer_addr(id));
        self.access.open(ws.keepalive, now, peer, path, None);
        let ok = self.install_deflate(ctx, id, ws.parts(), deflate);
        *conn = Conn::WsBridge(Box::new(Bridged { ws, backend }));
        if !ok {
            self.end_ws(app, ctx, id, conn);
            return;
        }
        self.leftover_frames(app, ctx, id, conn, leftover);
    }

    /// Installs the agreed permessage-deflate on a new WebSocket (a connection with an
    /// extension keeps its decoder for life: the contexts live in it). `false` if the codec
    /// refused the parameters (the close frame is then sent).
    fn install_deflate(
        &mut self,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        ws: WsParts<'_>,
        deflate: Option<DeflateParams>,
    ) -> bool {
        let Some(agreed) = deflate else { return true };
        let mut decoder = Decoder::new(self.shared.codec);
        let config = DeflateConfig::from(agreed);
        match PermessageDeflate::new(Role::Server, config, self.shared.compression) {
            Ok(ext) => {
                decoder.set_extension(Box::new(ext));
                *ws.decoder = Some(Box::new(decoder));
                true
            }
            Err(e) => {
                // The handshake crate only agrees valid parameters; refuse politely anyway.
                log::warn!("deflate parameters refused by the codec: {e}");
                self.close_parts(ctx, id, ws, 1011, "extension error");
                false
            }
        }
    }

    /// Frames that came in the same read as the head (rare: clients wait for the 101). They
    /// are borrowed immutably from the head's buffer and the codec unmasks in place, so they
    /// take one copy into the reactor's scratch buffer.
    fn leftover_frames(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
        leftover: &[u8],
    ) {
        if leftover.is_empty() {
            return;
        }
        let mut input = std::mem::take(&mut self.input);
        input.clear();
        input.extend_from_slice(leftover);
        self.on_ws_data(app, ctx, id, conn, &mut input);
        if input.capacity() > 64 << 10 {
            input = Vec::new();
        }
        self.input = input;
    }

    /// Bytes for a WebSocket connection, straight from netio's read buffer (or the head's
    /// leftover): the decoder unmasks them in place, and replies to small messages are built
    /// there.
    pub(crate) fn on_ws_data(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
        input: &mut [u8],
    ) {
        let end = match conn {
            Conn::Ws(ws) => {
                let deliver = |core: &mut Self,
                               ctx: &mut Cx<'_, A>,
                               ws: &mut WsConn<A::State>,
                               decoder: &mut Decoder,
                               reply: Option<&mut Replies>,
                               tally: &mut Tally,
                               message: Message<'_>| {
                    let mut handle = Connection {
                        ctx,
                        core,
                        id,
                        ws,
                        decoder: Some(decoder),
                        reply,
                        tally,
                        closing: false,
                    };
                    app.message(&mut handle, message);
                };
                self.read_frames(app, ctx, id, ws, true, input, deliver)
            }
            Conn::WsBridge(b) => {
                // websockify: message payloads are the TCP byte stream.
                let backend = b.backend;
                let deliver = |core: &mut Self,
                               ctx: &mut Cx<'_, A>,
                               _: &mut WsConn<()>,
                               _: &mut Decoder,
                               _: Option<&mut Replies>,
                               _: &mut Tally,
                               message: Message<'_>| {
                    core.send_to_backend(ctx, backend, message.payload());
                };
                self.read_frames(app, ctx, id, &mut b.ws, false, input, deliver)
            }
            _ => return,
        };
        if let ReadEnd::Closed = end {
            self.end_ws(app, ctx, id, conn);
        }
    }

    /// The frame loop of one read, for the app's WebSockets and bridged ones alike: each
    /// data message goes to `deliver` (which may choose a reply to build in place when
    /// `replies` is set).
    #[allow(clippy::too_many_arguments)]
    fn read_frames<S>(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        ws: &mut WsConn<S>,
        replies: bool,
        input: &mut [u8],
        mut deliver: impl FnMut(
            &mut Self,
            &mut Cx<'_, A>,
            &mut WsConn<S>,
            &mut Decoder,
            Option<&mut Replies>,
            &mut Tally,
            Message<'_>,
        ),
    ) -> ReadEnd {
        self.touch(ctx, ws.keepalive);
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
        // The memory budget: what this read may make the connection hold (see budget.rs). The
        // app's own connection is out of the table during its read, so shedding never picks it.
        let held_before = decoder.heap_bytes();
        let allowance = self.read_allowance(app, ctx, id, held_before);
        decoder.set_memory_limit(allowance);
        // Replies of a deflate connection go through its compressor, so they cannot be built
        // in place.
        let in_place = replies && !decoder.has_extension();
        let mut pos = 0;
        let mut tally = Tally::default();
        let mut failed = None;
        let mut peer_closed = false;
        // Replies built in place, in input already consumed: `input[run]` holds finished
        // server frames, sent as one write. A client frame (header + 4-byte mask + payload) is
        // always longer than our reply to it, so each reply fits where its request was.
        let mut replies = Replies::default();
        while pos < input.len() {
            let (done, rest) = input.split_at_mut(pos);
            let rest_start = rest.as_ptr() as usize;
            let rest_len = rest.len();
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
                    let message = match event {
                        Event::Text(text) => Some(Message::Text(text)),
                        Event::Binary(bytes) => Some(Message::Binary(bytes)),
                        _ => None,
                    };
                    if let Some(message) = message {
                        // After our close nothing more goes out and the app hears nothing
                        // more: data is dropped.
                        if ws.session.can_send_message() {
                            tally.messages_in += 1;
                            tally.bytes_in += message.payload().len() as u64;
                            let reply = if in_place {
                                replies.rest_start = rest_start;
                                replies.rest_len = rest_len;
                                replies.pos = pos;
                                replies.consumed = consumed;
                                Some(&mut replies)
                            } else {
                                None
                            };
                            deliver(self, ctx, ws, &mut decoder, reply, &mut tally, message);
                        }
                    } else if ws.session.can_send_message() || matches!(event, Event::Close { .. })
                    {
                        // Control frames are written now: after the replies built so far.
                        let run = &mut replies.run;
                        if run.start != run.end {
                            let _ = ctx.write(id, &done[run.clone()]);
                            *run = run.end..run.end;
                        }
                        match event {
                            Event::Ping(payload) => {
                                if let Ok(pong) = ws.session.encode_pong(payload) {
                                    let _ = ctx.write(id, &pong);
                                }
                            }
                            Event::Close { code, reply, .. } => {
                                let code = code.map_or(1005, |c| c.0);
                                // A reply means the client closed first.
                                if let Some(reply) = reply {
                                    self.metrics().close(CloseBy::Client, code);
                                    ws.parts().closed(ClosedBy::Client, code);
                                    let _ = ctx.write(id, reply);
                                }
                                peer_closed = true;
                            }
                            _ => {}
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
            }) = replies.compact.take()
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
                replies.run.end = to + h.len() + len;
            }
            if !replies.after.is_empty() {
                let run = &mut replies.run;
                if run.start != run.end {
                    let _ = ctx.write(id, &input[run.clone()]);
                    *run = run.end..run.end;
                }
                let _ = ctx.write(id, &replies.after);
                replies.after.clear();
            }
            pos += consumed;
            if peer_closed {
                break;
            }
        }
        if replies.run.start != replies.run.end {
            let _ = ctx.write(id, &input[replies.run]);
        }
        if tally.messages_in > 0 {
            let m = self.metrics();
            m.messages_in.add(tally.messages_in);
            m.bytes_in.add(tally.bytes_in);
        }
        self.add_tally(ws.keepalive, &tally);
        let held_after = match (&failed, peer_closed) {
            (None, false) => decoder.heap_bytes(),
            _ => 0,
        };
        if held_before != 0 || held_after != 0 {
            let done = tally.messages_in > 0;
            self.budget.update(id, held_after, ctx.now(), done);
        }
        if let Some(failure) = failed {
            let code = failure.error.close_code().0;
            log::debug!("closing {id} with {code}: {}", failure.error);
            if let switchyard_frame::Error::OverMemoryLimit { .. } = failure.error {
                self.metrics().budget_too_big.inc();
                log::warn!("closing {id} with 1009: message over the memory budget");
            }
            // A close frame means ours had not been sent yet.
            if let Some(frame) = failure.close_frame {
                self.metrics().close(CloseBy::Server, code);
                ws.parts().closed(ClosedBy::Server, code);
                let _ = ctx.write(id, frame.as_bytes());
            }
            return ReadEnd::Closed;
        }
        if peer_closed {
            return ReadEnd::Closed;
        }
        // Keep the decoder only if it holds state between reads; an idle one without extension
        // is as good as a new one (frame's contract), so it serves the next connection's read.
        if decoder.is_idle() && !decoder.has_extension() && pos == input.len() {
            self.spare_decoder = Some(decoder);
        } else {
            ws.decoder = Some(decoder);
        }
        ReadEnd::More
    }

    /// Sends one whole message on a WebSocket: in place over the request when the handler
    /// runs inside a read and the payload allows it, else after the replies built so far,
    /// compressed when the connection agreed permessage-deflate.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send_message(
        &mut self,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        session: &mut Session,
        decoder: Option<&mut Decoder>,
        reply: Option<&mut Replies>,
        tally: &mut Tally,
        message: Message<'_>,
    ) -> Result<(), SendError> {
        let (opcode, payload) = (message.opcode(), message.payload());
        match decoder {
            Some(decoder) if decoder.has_extension() => {
                let mut out = std::mem::take(&mut self.scratch);
                out.clear();
                let sent = session.encode_message(decoder, opcode, payload, &mut out);
                if sent.is_ok() {
                    let _ = ctx.write(id, &out);
                }
                self.scratch = recycle(out);
                sent.map_err(|_| SendError::Closed)?;
            }
            _ => {
                let header = session
                    .encode_header(opcode, true, payload.len())
                    .map_err(|_| SendError::Closed)?;
                match reply {
                    // One reply in place per request frame, and none after a frame kept in
                    // `after` (it would overtake it).
                    Some(r) if r.compact.is_none() && r.after.is_empty() => {
                        let (start, len) = (r.rest_start, r.rest_len);
                        r.compact =
                            in_place_echo(header, payload, start, len, r.pos, r.consumed, &r.run);
                        if r.compact.is_none() {
                            r.write_after(ctx, id, &[header.as_bytes(), payload]);
                        }
                    }
                    Some(r) => r.write_after(ctx, id, &[header.as_bytes(), payload]),
                    None => {
                        let _ = ctx.write_vectored(id, &[header.as_bytes(), payload]);
                    }
                }
            }
        }
        tally.messages_out += 1;
        tally.bytes_out += payload.len() as u64;
        Ok(())
    }

    /// An app's close of its connection: after the replies of this read (a reply built in
    /// place is not written yet: the close frame then waits behind it).
    pub(crate) fn app_close(
        &mut self,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        ws: WsParts<'_>,
        reply: Option<&mut Replies>,
        code: u16,
        reason: &str,
    ) {
        let code = if CloseCode(code).is_valid_on_wire() {
            code
        } else {
            1000
        };
        let mut cut = reason.len().min(123);
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        let reason = &reason[..cut];
        match reply {
            Some(r) if r.pending() => {
                let mut ws = ws;
                if let Ok(frame) = ws.session.encode_close(Some(CloseCode(code)), reason) {
                    self.metrics().close(CloseBy::Server, code);
                    ws.closed(ClosedBy::Server, code);
                    r.after.extend_from_slice(&frame);
                }
                ctx.set_timer(id, self.shared.config.close_timeout, tag::CLOSE_DEADLINE);
            }
            _ => self.close_parts(ctx, id, ws, code, reason),
        }
    }

    /// One message as a whole frame in shared bytes, encoded once for every subscriber on
    /// every core: written in the reactor's scratch buffer, then copied into the one
    /// reference-counted allocation.
    pub(crate) fn shared_frame(&mut self, opcode: OpCode, payload: &[u8]) -> Published {
        let mut out = std::mem::take(&mut self.scratch);
        let frame = Published::encode(opcode, payload, &mut out);
        self.scratch = recycle(out);
        frame
    }

    /// Ends a WebSocket whose close handshake is done (or failed): flush and close, and close
    /// a bridge's backend too.
    pub(crate) fn end_ws(
        &mut self,
        app: &A,
        ctx: &mut Cx<'_, A>,
        id: ConnId,
        conn: &mut Conn<A::State>,
    ) {
        if let Conn::WsBridge(b) = conn {
            ctx.close(b.backend, Close::AfterFlush);
        }
        self.finish(app, ctx, id, conn);
    }
}

/// Where a reply is built in the input: the payload moves from `from` to just after a header
/// written at `to`.
pub(crate) struct InPlace {
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
