//! Streaming bodies through the proxy: never buffered whole.
//!
//! * [`RequestBody`] carries a client's body upstream, enforcing the app's size limit and a
//!   read deadline between chunks (a slow-body client is cut off, not waited on forever).
//! * [`ResponseBody`] carries an upstream's body (or a gateway page) to the client, and
//!   returns the upstream connection to its pool once the body has been read to the end.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};

use super::pool::PooledConnection;

/// Why a request body stopped flowing.
#[derive(Debug, thiserror::Error)]
pub enum RequestBodyError {
    #[error("request body larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("client sent no body data for {0:?}")]
    ReadTimeout(Duration),
    #[error("client body: {0}")]
    Client(#[from] hyper::Error),
}

impl RequestBodyError {
    /// Finds a body error inside an error chain (hyper wraps the body's error).
    pub fn find_in<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a RequestBodyError> {
        let mut current: Option<&(dyn StdError + 'static)> = Some(err);
        while let Some(e) = current {
            if let Some(found) = e.downcast_ref::<RequestBodyError>() {
                return Some(found);
            }
            current = e.source();
        }
        None
    }
}

pin_project_lite::pin_project! {
    /// A client's request body on its way upstream: streamed from the client, or — when
    /// the gateway had to read it first (a signature guard) — the bytes it read.
    pub struct RequestBody {
        #[pin]
        inner: Option<Incoming>,
        buffered: Option<Bytes>,
        limit: u64,
        received: u64,
        read_timeout: Duration,
        // Created on the first wait, then reset: most small bodies never wait.
        deadline: Option<Pin<Box<Sleep>>>,
        // Told when the body has been read to its end (or failed).
        sent: Option<oneshot::Sender<()>>,
    }
}

impl RequestBody {
    pub fn new(inner: Incoming, limit: u64, read_timeout: Duration) -> Self {
        Self {
            inner: Some(inner),
            buffered: None,
            limit,
            received: 0,
            read_timeout,
            deadline: None,
            sent: None,
        }
    }

    /// A body the gateway has already read in full (and checked against the limit).
    pub fn buffered(data: Bytes) -> Self {
        Self {
            inner: None,
            buffered: (!data.is_empty()).then_some(data),
            limit: u64::MAX,
            received: 0,
            read_timeout: Duration::MAX,
            deadline: None,
            sent: None,
        }
    }

    /// A signal that resolves once the whole body has been handed on (or has failed);
    /// `None` when there is no body to wait for.
    pub fn take_sent_signal(&mut self) -> Option<oneshot::Receiver<()>> {
        if self.is_end_stream() || self.inner.is_none() {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        self.sent = Some(tx);
        Some(rx)
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = RequestBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(this.buffered.take().map(|data| Ok(Frame::data(data))));
        };
        match inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                if let Some(deadline) = this.deadline.as_mut() {
                    deadline.as_mut().reset(Instant::now() + *this.read_timeout);
                }
                let frame = match frame {
                    None => {
                        if let Some(sent) = this.sent.take() {
                            let _ = sent.send(());
                        }
                        return Poll::Ready(None);
                    }
                    Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                    Some(Ok(frame)) => frame,
                };
                if let Some(data) = frame.data_ref() {
                    *this.received += data.len() as u64;
                    if *this.received > *this.limit {
                        return Poll::Ready(Some(Err(RequestBodyError::TooLarge {
                            limit: *this.limit,
                        })));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                let timeout = *this.read_timeout;
                let deadline = this
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                ready!(deadline.as_mut().poll(cx));
                Poll::Ready(Some(Err(RequestBodyError::ReadTimeout(timeout))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Some(inner) => inner.is_end_stream(),
            None => self.buffered.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Some(inner) => inner.size_hint(),
            None => {
                SizeHint::with_exact(self.buffered.as_ref().map_or(0, |data| data.len() as u64))
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A response body going to the client.
    #[project = ResponseBodyProj]
    pub enum ResponseBody {
        /// Streamed from an upstream; the connection goes back to the pool at the end.
        Upstream { #[pin] body: Incoming, connection: Option<PooledConnection> },
        /// Produced by the gateway itself (pages, ops endpoints).
        Full { data: Option<Bytes> },
    }
}

impl ResponseBody {
    pub fn upstream(body: Incoming, mut connection: Option<PooledConnection>) -> Self {
        // An empty body (HEAD, 204, 304, `Content-Length: 0`) may never be polled.
        if body.is_end_stream() {
            if let Some(conn) = connection.take() {
                conn.release();
            }
        }
        ResponseBody::Upstream { body, connection }
    }

    pub fn full(data: impl Into<Bytes>) -> Self {
        let data: Bytes = data.into();
        ResponseBody::Full {
            data: (!data.is_empty()).then_some(data),
        }
    }

    pub fn empty() -> Self {
        ResponseBody::Full { data: None }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project() {
            ResponseBodyProj::Upstream {
                mut body,
                connection,
            } => {
                let frame = ready!(body.as_mut().poll_frame(cx));
                if frame.is_none() || body.is_end_stream() {
                    // Read to the end: the connection is reusable.
                    if let Some(conn) = connection.take() {
                        conn.release();
                    }
                }
                Poll::Ready(frame)
            }
            ResponseBodyProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Upstream { body, .. } => body.is_end_stream(),
            ResponseBody::Full { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Upstream { body, .. } => body.size_hint(),
            ResponseBody::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}
