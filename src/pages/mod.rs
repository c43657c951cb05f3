//! Branded HTML pages users see (Vietnamese first, English below).
//!
//! Pages share `templates/pages/layout.html`; other rooms may extend that layout from
//! their own templates by giving their template struct a `branding: &Branding` field.
//! Pages never echo user input: the only dynamic value besides branding (operator
//! configuration) is the request id, which the gateway generates — and it is escaped anyway.

mod text;

use askama::Template;
use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use text::{error_text, ErrorText};

/// Province branding shown on every page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Branding {
    /// E.g. "Cổng dịch vụ tập trung — UBND tỉnh Nam Định".
    pub site_name: String,
    /// Logo shown left of the site name; no logo when `None`.
    pub logo_url: Option<String>,
}

impl Default for Branding {
    fn default() -> Self {
        Branding {
            site_name: "govgate".to_owned(),
            logo_url: None,
        }
    }
}

/// The error pages the gateway itself answers with.
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
    /// Every variant, for exhaustive tests and previews.
    pub const ALL: [ErrorPage; 10] = [
        ErrorPage::BadRequest,
        ErrorPage::NotFound,
        ErrorPage::Forbidden,
        ErrorPage::PayloadTooLarge,
        ErrorPage::HeadersTooLarge,
        ErrorPage::TooManyRequests,
        ErrorPage::BadGateway,
        ErrorPage::ServiceUnavailable,
        ErrorPage::GatewayTimeout,
        ErrorPage::InternalError,
    ];

    /// The HTTP status the page is sent with.
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

    /// Machine-readable code (the `error` field of the JSON variant), e.g. `not_found`.
    pub fn code(self) -> &'static str {
        error_text(self).code
    }
}

/// `text/html; charset=utf-8`.
pub const HTML_CONTENT_TYPE: &str = "text/html; charset=utf-8";
/// `application/json`.
pub const JSON_CONTENT_TYPE: &str = "application/json";

#[derive(Template)]
#[template(path = "pages/error.html")]
struct ErrorPageHtml<'a> {
    branding: &'a Branding,
    text: ErrorText,
    status_code: u16,
    request_id: &'a str,
}

#[derive(serde::Serialize)]
struct ErrorJson<'a> {
    error: &'static str,
    message: &'static str,
    message_vi: &'static str,
    request_id: &'a str,
}

/// Body and content type for an error; JSON (`{"error": "...", "message": "...",
/// "message_vi": "...", "request_id": "..."}`) when the client prefers JSON (Accept
/// contains `application/json` and not `text/html`), HTML otherwise.
pub fn render_error(
    page: ErrorPage,
    request_id: &str,
    accept: Option<&HeaderValue>,
    branding: &Branding,
) -> (HeaderValue, Bytes) {
    if prefers_json(accept) {
        (
            HeaderValue::from_static(JSON_CONTENT_TYPE),
            error_json(page, request_id),
        )
    } else {
        (
            HeaderValue::from_static(HTML_CONTENT_TYPE),
            error_html(page, request_id, branding),
        )
    }
}

/// True when `Accept` names `application/json` and does not name `text/html`.
/// Browsers always list `text/html`, so they get the page.
fn prefers_json(accept: Option<&HeaderValue>) -> bool {
    let Some(accept) = accept.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let accept = accept.to_ascii_lowercase();
    accept.contains("application/json") && !accept.contains("text/html")
}

fn error_json(page: ErrorPage, request_id: &str) -> Bytes {
    let text = error_text(page);
    let body = ErrorJson {
        error: text.code,
        message: text.title_en,
        message_vi: text.title_vi,
        request_id,
    };
    match serde_json::to_vec(&body) {
        Ok(json) => Bytes::from(json),
        // Serialising plain strings cannot fail; keep a valid body regardless.
        Err(_) => Bytes::from_static(br#"{"error":"internal_error","message":"Internal error"}"#),
    }
}

fn error_html(page: ErrorPage, request_id: &str, branding: &Branding) -> Bytes {
    let html = ErrorPageHtml {
        branding,
        text: error_text(page),
        status_code: page.status().as_u16(),
        request_id,
    };
    match html.render() {
        Ok(rendered) => Bytes::from(rendered),
        // Rendering only fails if writing to a String fails; never leave the client empty-handed.
        Err(_) => Bytes::from_static(FALLBACK_HTML.as_bytes()),
    }
}

const FALLBACK_HTML: &str = "<!DOCTYPE html><html lang=\"vi\"><head><meta charset=\"utf-8\">\
<title>Lỗi</title></head><body><h1>Đã xảy ra lỗi</h1><p lang=\"en\">An error occurred.</p>\
<p><a href=\"/\">Về trang chủ / Home</a></p></body></html>";

/// API clients get 401 JSON instead of a redirect to the login page: they ask for JSON,
/// or are XHR, or authenticate with an `Authorization` header.
pub fn is_api_request(headers: &http::HeaderMap) -> bool {
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let wants_json = accept.contains("application/json") && !accept.contains("text/html");
    let xhr = headers
        .get("x-requested-with")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"xmlhttprequest"));
    wants_json || xhr || headers.contains_key(http::header::AUTHORIZATION)
}

#[cfg(test)]
mod tests;
