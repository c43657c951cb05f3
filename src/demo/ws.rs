//! `.../ws`: a WebSocket echo over hyper's HTTP/1.1 upgrade.

use futures_util::{SinkExt, StreamExt};
use http::header::{
    HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use http::{Method, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::handlers::{empty, text, DemoBody};

/// Answers the opening handshake and echoes text and binary messages on the upgraded
/// connection until the peer closes it.
pub(crate) fn upgrade(req: Request<Incoming>) -> Response<DemoBody> {
    if let Some(refusal) = handshake_refusal(&req) {
        return refusal;
    }
    let Some(key) = req.headers().get(SEC_WEBSOCKET_KEY) else {
        return text(
            StatusCode::BAD_REQUEST,
            "missing Sec-WebSocket-Key\n".to_owned(),
        );
    };
    let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) else {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "bad accept key\n".to_owned(),
        );
    };
    let upgrading = hyper::upgrade::on(req);
    tokio::spawn(async move {
        match upgrading.await {
            Ok(upgraded) => {
                let socket =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                echo(socket).await;
            }
            Err(error) => tracing::debug!(%error, "demo websocket upgrade failed"),
        }
    });
    let mut response = empty(StatusCode::SWITCHING_PROTOCOLS);
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    response
}

/// RFC 6455 §4.2.1: GET over HTTP/1.1 with `Upgrade: websocket`, `Connection: upgrade`
/// and version 13. Returns the response refusing anything else.
fn handshake_refusal(req: &Request<Incoming>) -> Option<Response<DemoBody>> {
    let is_upgrade = req.method() == Method::GET
        && req.version() == Version::HTTP_11
        && header_has_token(req, UPGRADE, "websocket")
        && header_has_token(req, CONNECTION, "upgrade");
    if !is_upgrade {
        return Some(text(
            StatusCode::BAD_REQUEST,
            "expected a WebSocket upgrade (GET, HTTP/1.1, Upgrade: websocket)\n".to_owned(),
        ));
    }
    if req
        .headers()
        .get(SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        let mut response = text(
            StatusCode::UPGRADE_REQUIRED,
            "WebSocket version 13 only\n".to_owned(),
        );
        response
            .headers_mut()
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return Some(response);
    }
    None
}

fn header_has_token(req: &Request<Incoming>, name: http::header::HeaderName, token: &str) -> bool {
    req.headers()
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

async fn echo<S>(mut socket: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(message) = socket.next().await {
        let reply = match message {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => message,
            // tungstenite answers pings and close frames itself; reading on flushes the
            // reply and ends the stream once the closing handshake is done.
            Ok(_) => continue,
            Err(error) => {
                tracing::debug!(%error, "demo websocket read failed");
                break;
            }
        };
        if let Err(error) = socket.send(reply).await {
            tracing::debug!(%error, "demo websocket write failed");
            break;
        }
    }
}
