//! WebSocket pass-through: after the upstream agrees to switch protocols, the two upgraded
//! connections are spliced together byte for byte.

use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, Response};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// True for an HTTP/1.1 WebSocket handshake (`Connection: upgrade` + `Upgrade: websocket`).
pub fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let upgrade_is_websocket = headers
        .get(UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    upgrade_is_websocket
        && headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

/// Splices client and upstream once both upgrades complete; runs until either side closes.
pub fn splice<B>(client: OnUpgrade, upstream_response: &mut Response<B>, app: std::sync::Arc<str>) {
    let upstream = hyper::upgrade::on(upstream_response);
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!(%app, %error, "websocket upgrade did not complete");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(%app, %error, "websocket connection ended with an error");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn detects_handshake() {
        let mut h = HeaderMap::new();
        h.insert(UPGRADE, HeaderValue::from_static("WebSocket"));
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        assert!(is_websocket_upgrade(&h));
        h.insert(UPGRADE, HeaderValue::from_static("h2c"));
        assert!(!is_websocket_upgrade(&h));
    }
}
