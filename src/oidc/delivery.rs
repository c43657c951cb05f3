//! Back-channel logout delivery (OIDC Back-Channel Logout 1.0 §2.5): logout tokens are
//! POSTed to each client's `backchannel_logout_uri` from a bounded queue, with retries and
//! exponential back-off, so that a slow or dead client neither delays the user's logout nor
//! grows memory.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use tokio::sync::{mpsc, Semaphore};

use super::outbound::{exchange, OutboundError};
use crate::metrics::OidcMetrics;

/// One logout token for one client.
#[derive(Debug, Clone)]
pub struct LogoutDelivery {
    pub client_id: String,
    pub uri: String,
    pub token: String,
}

/// The sending side, shared by every worker.
#[derive(Clone)]
pub struct LogoutQueue {
    sender: mpsc::Sender<LogoutDelivery>,
    pub stats: Arc<OidcMetrics>,
}

/// The receiving side: [`LogoutSender::run`] delivers until every queue handle is gone.
pub struct LogoutSender {
    receiver: mpsc::Receiver<LogoutDelivery>,
    stats: Arc<OidcMetrics>,
    attempts: u32,
    tls: Option<Arc<rustls::ClientConfig>>,
    first_retry: Duration,
}

/// Deliveries in flight at once.
const CONCURRENT_DELIVERIES: usize = 32;
/// One attempt's time limit (connect + request + response head).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes of a client's answer read before giving up on it.
const RESPONSE_BODY_LIMIT: usize = 64 * 1024;

impl LogoutQueue {
    /// A queue holding at most `capacity` waiting deliveries, each tried `attempts` times.
    /// `tls` verifies `https://` logout URIs.
    pub fn new(
        capacity: usize,
        attempts: u32,
        tls: Option<Arc<rustls::ClientConfig>>,
        stats: Arc<OidcMetrics>,
    ) -> (LogoutQueue, LogoutSender) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
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
            self.stats.logouts_dropped.fetch_add(1, Ordering::Relaxed);
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
    stats: &OidcMetrics,
) {
    let mut delay = first_retry;
    for attempt in 1..=attempts {
        match tokio::time::timeout(ATTEMPT_TIMEOUT, post(delivery, tls)).await {
            Ok(Ok(status)) if status.is_success() => {
                stats.logouts_delivered.fetch_add(1, Ordering::Relaxed);
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
            stats.logouts_retried.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
    }
    stats.logouts_failed.fetch_add(1, Ordering::Relaxed);
    tracing::error!(client = %delivery.client_id, "back-channel logout gave up; the client may keep its session");
}

/// One POST of `logout_token=…` to the client.
async fn post(
    delivery: &LogoutDelivery,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<StatusCode, OutboundError> {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", &delivery.token)
        .finish();
    let request = Request::post(delivery.uri.as_str())
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(http::header::USER_AGENT, "govgate-backchannel-logout")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| OutboundError::BadUri {
            uri: delivery.uri.clone(),
            reason: e.to_string(),
        })?;
    // The answer's body means nothing (§2.8); read a little of it so the exchange completes.
    Ok(exchange(request, tls, RESPONSE_BODY_LIMIT).await?.status)
}
