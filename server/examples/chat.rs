//! A chat with rooms on the app API: each path `/rooms/NAME` is a room (a topic), a JWT
//! names the user (claim `name`, else `sub`), and everyone in a room hears who joins and
//! leaves.
//!
//! ```sh
//! export SWITCHYARD_JWT_SECRET=$(head -c 32 /dev/urandom | base64)
//! cargo run -p switchyard --example chat -- --mint alice     # prints a token for alice
//! cargo run -p switchyard --example chat                     # serves on 127.0.0.1:8080
//! # then, e.g. with websocat:
//! websocat "ws://127.0.0.1:8080/rooms/lobby?token=<the token>"
//! ```
//!
//! Browsers, which cannot set an `Authorization` header, may offer the token as a
//! subprotocol instead: `new WebSocket(url, ["chat", "bearer." + token])`.

use std::time::{SystemTime, UNIX_EPOCH};

use switchyard::app::{App, CloseInfo, Connection, Message, Publish, Upgrade, UpgradeRequest};
use switchyard::auth::{find_token, JwtVerifier};
use switchyard::{Config, Server};

/// One member of a room.
struct Member {
    room: String,
    name: String,
}

struct Chat {
    jwt: JwtVerifier,
}

impl App for Chat {
    type State = Member;

    fn upgrade<'r>(&self, request: &UpgradeRequest<'r>) -> Upgrade<'r, Member> {
        let Some(room) = request
            .path()
            .strip_prefix("/rooms/")
            .filter(|r| !r.is_empty())
        else {
            return Upgrade::reject(404, "rooms are /rooms/NAME");
        };
        let offered: Vec<&str> = request.offered_subprotocols().collect();
        let token = find_token(request.header("authorization"), request.query(), &offered);
        let claims = match token.map(|(_, token)| self.jwt.verify(token)) {
            Some(Ok(claims)) => claims,
            Some(Err(e)) => return Upgrade::reject(401, e.reason()),
            None => return Upgrade::reject(401, "a token is required"),
        };
        let Some(name) = claims.name.or(claims.subject) else {
            return Upgrade::reject(401, "the token names no user");
        };
        Upgrade::Accept {
            state: Member {
                room: room.to_owned(),
                name,
            },
            // A browser that sent its token as a subprotocol must be answered another one.
            subprotocol: offered.into_iter().find(|p| *p == "chat"),
        }
    }

    fn open(&self, conn: &mut Connection<'_, '_, Self>, _: &UpgradeRequest<'_>) {
        let Member { room, name } = conn.state();
        let (room, joined) = (room.clone(), format!("{name} joined"));
        conn.subscribe(&room);
        conn.publish(&room, Message::Text(&joined), Publish::IncludeSender);
    }

    fn message(&self, conn: &mut Connection<'_, '_, Self>, message: Message<'_>) {
        let Message::Text(text) = message else {
            conn.close(1003, "text only");
            return;
        };
        let Member { room, name } = conn.state();
        let (room, line) = (room.clone(), format!("{name}: {text}"));
        conn.publish(&room, Message::Text(&line), Publish::IncludeSender);
    }

    fn close(&self, conn: &mut Connection<'_, '_, Self>, _: CloseInfo<'_>) {
        let Member { room, name } = conn.state();
        let (room, left) = (room.clone(), format!("{name} left"));
        conn.publish(&room, Message::Text(&left), Publish::ExcludeSender);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("SWITCHYARD_JWT_SECRET")
        .map_err(|_| "set SWITCHYARD_JWT_SECRET (32 bytes or more)")?;
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, name] = &args[..] {
        if flag == "--mint" {
            println!("{}", mint(secret.as_bytes(), name)?);
            return Ok(());
        }
    }
    let jwt = JwtVerifier::from_secret(secret.as_bytes())?;
    let config = Config {
        listen: vec!["127.0.0.1:8080".parse()?],
        ..Config::default()
    };
    let server = Server::start_app(config, Chat { jwt })?;
    println!("chat rooms at ws://{}/rooms/NAME", server.local_addrs()[0]);
    switchyard::signals::spawn(server.handle(), std::time::Duration::from_secs(5))?;
    server.join()?;
    Ok(())
}

/// An HS256 token naming `name`, valid for an hour (for trying the example).
fn mint(secret: &[u8], name: &str) -> Result<String, jsonwebtoken::errors::Error> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({ "name": name, "exp": now + 3600 });
    let key = jsonwebtoken::EncodingKey::from_secret(secret)?;
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key)
}
