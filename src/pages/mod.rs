//! Branded HTML pages users see (Vietnamese first, English below).
//! (Temporary stand-in; the full templates land from the pages work.)

use bytes::Bytes;
use http::{HeaderValue, StatusCode};

#[derive(Debug, Clone, Default)]
pub struct Branding {
    pub site_name: String,
    pub logo_url: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorPage {
    BadRequest,
    NotFound,
    Forbidden,
    PayloadTooLarge,
    HeadersTooLarge,
    TooManyRequests,
    BadGateway,
    ServiceUnavailable,
    GatewayTimeout,
    InternalError,
}

impl ErrorPage {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorPage::BadRequest => StatusCode::BAD_REQUEST,
            ErrorPage::NotFound => StatusCode::NOT_FOUND,
            ErrorPage::Forbidden => StatusCode::FORBIDDEN,
            ErrorPage::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorPage::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorPage::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorPage::BadGateway => StatusCode::BAD_GATEWAY,
            ErrorPage::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorPage::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorPage::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

pub fn render_error(
    page: ErrorPage,
    request_id: &str,
    _accept: Option<&HeaderValue>,
    _branding: &Branding,
) -> (HeaderValue, Bytes) {
    let body = format!("<!doctype html><title>{}</title><p>Mã yêu cầu: {request_id}</p>", page.status());
    (HeaderValue::from_static("text/html; charset=utf-8"), Bytes::from(body))
}
