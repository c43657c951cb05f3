//! Back-channel logout delivery (OIDC Back-Channel Logout 1.0 §2.5): logout tokens are
//! POSTed to each client's `backchannel_logout_uri` from a bounded queue, with retries and
//! exponential back-off, so that a slow or dead client neither delays the user's logout nor
//! grows memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};

/// One logout token for one client.
#[derive(Debug, Clone)]
pub struct LogoutDelivery {
    pub client_id: String,
    pub uri: String,
    pub token: String,
}

/// Counters of the queue, for `/metrics`.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    pub retried: AtomicU64,
}

/// The sending side, shared by every worker.
#[derive(Clone)]
pub struct LogoutQueue {
    sender: mpsc::Sender<LogoutDelivery>,
    pub stats: Arc<DeliveryStats>,
}

/// The receiving side: [`LogoutSender::run`] delivers until every queue handle is gone.
pub struct LogoutSender {
    receiver: mpsc::Receiver<LogoutDelivery>,
    stats: Arc<DeliveryStats>,
    attempts: u32,
    tls: Option<Arc<rustls::ClientConfig>>,
    first_retry: Duration,
}

/// Deliveries in flight at once.
const CONCURRENT_DELIVERIES: usize = 32;
/// One attempt's time limit (connect + request + response head).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

impl LogoutQueue {
    /// A queue holding at most `capacity` waiting deliveries, each tried `attempts` times.
    /// `tls` verifies `https://` logout URIs.
    pub fn new(
        capacity: usize,
        attempts: u32,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> (LogoutQueue, LogoutSender) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let stats = Arc::new(DeliveryStats::default());
        (
            LogoutQueue {
                sender,
                stats: stats.clone(),
            },
            LogoutSender {
                receiver,
                stats,
                attempts: attempts.max(1),
                tls,
                first_retry: Duration::from_secs(1),
            },
        )
    }

    /// Queues a delivery; when the queue is full it is dropped, counted and logged.
    pub fn enqueue(&self, delivery: LogoutDelivery) {
        if let Err(error) = self.sender.try_send(delivery) {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            let client = match &error {
                mpsc::error::TrySendError::Full(d) | mpsc::error::TrySendError::Closed(d) => {
                    d.client_id.clone()
                }
            };
            tracing::error!(%client, "back-channel logout queue full or stopped; notification dropped");
        }
    }
}

impl LogoutSender {
    /// Shortens the back-off (tests).
    pub fn with_first_retry(mut self, delay: Duration) -> Self {
        self.first_retry = delay;
        self
    }

    /// Delivers queued tokens, several at a time, until the queue is closed.
    pub async fn run(mut self) {
        let slots = Arc::new(Semaphore::new(CONCURRENT_DELIVERIES));
        while let Some(delivery) = self.receiver.recv().await {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let stats = self.stats.clone();
            let tls = self.tls.clone();
            let (attempts, first_retry) = (self.attempts, self.first_retry);
            tokio::spawn(async move {
                deliver_with_retries(&delivery, attempts, first_retry, tls.as_ref(), &stats).await;
                drop(slot);
            });
        }
    }
}

async fn deliver_with_retries(
    delivery: &LogoutDelivery,
    attempts: u32,
    first_retry: Duration,
    tls: Option<&Arc<rustls::ClientConfig>>,
    stats: &DeliveryStats,
) {
    let mut delay = first_retry;
    for attempt in 1..=attempts {
        match tokio::time::timeout(ATTEMPT_TIMEOUT, post(delivery, tls)).await {
            Ok(Ok(status)) if status.is_success() => {
                stats.delivered.fetch_add(1, Ordering::Relaxed);
                tracing::info!(client = %delivery.client_id, attempt, "back-channel logout delivered");
                return;
            }
            // §2.8: 400 means the client refused the token; sending it again will not help.
            Ok(Ok(StatusCode::BAD_REQUEST)) => {
                tracing::warn!(client = %delivery.client_id, "client refused the logout token (400)");
                break;
            }
            Ok(Ok(status)) => {
                tracing::warn!(client = %delivery.client_id, attempt, %status, "back-channel logout not accepted");
            }
            Ok(Err(error)) => {
                tracing::warn!(client = %delivery.client_id, attempt, %error, "back-channel logout failed");
            }
            Err(_) => {
                tracing::warn!(client = %delivery.client_id, attempt, "back-channel logout timed out")
            }
        }
        if attempt < attempts {
            stats.retried.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
    }
    stats.failed.fetch_add(1, Ordering::Relaxed);
    tracing::error!(client = %delivery.client_id, "back-channel logout gave up; the client may keep its session");
}

/// One POST of `logout_token=…` to the client.
async fn post(
    delivery: &LogoutDelivery,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<StatusCode, String> {
    let uri: Uri = delivery.uri.parse().map_err(|e| format!("bad URI: {e}"))?;
    let https = uri.scheme_str() == Some("https");
    let host = uri.host().ok_or("URI has no host")?.to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let stream = TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", &delivery.token)
        .finish();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = Request::post(path)
        .header(
            http::header::HOST,
            uri.authority().map_or(host.as_str(), |a| a.as_str()),
        )
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(http::header::USER_AGENT, "govgate-backchannel-logout")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    if https {
        let config = tls.ok_or("no TLS configuration for https logout URIs")?;
        let name =
            rustls_pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                .map_err(|e| e.to_string())?;
        let stream = tokio_rustls::TlsConnector::from(config.clone())
            .connect(name, stream)
            .await
            .map_err(|e| e.to_string())?;
        send(hyper_util::rt::TokioIo::new(stream), request).await
    } else {
        send(hyper_util::rt::TokioIo::new(stream), request).await
    }
}

async fn send<T>(io: T, request: Request<Full<Bytes>>) -> Result<StatusCode, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    // Read (and discard) the body so the exchange completes.
    let _ = response.into_body().collect().await;
    Ok(status)
}
