//! The demo app's HTML page: sample rows and the request as the app received it.

use askama::Template;

use super::apps::DemoApp;
use super::request_info::{header_kind, HeaderKind, RequestSeen};

struct HeaderRow<'a> {
    name: &'a str,
    value: &'a str,
    /// CSS class that highlights gateway-added headers.
    class: &'static str,
}

#[derive(Template)]
#[template(path = "demo/app.html")]
struct AppPage<'a> {
    name_vi: &'static str,
    name_en: &'static str,
    caption: &'static str,
    columns: &'static [&'static str],
    rows: &'static [&'static [&'static str]],
    seen: &'a RequestSeen,
    headers: Vec<HeaderRow<'a>>,
}

/// Renders the page; `Err` only if formatting into a String fails.
pub(crate) fn render_app_page(app: DemoApp, seen: &RequestSeen) -> Result<String, askama::Error> {
    let headers = seen
        .headers
        .iter()
        .map(|(name, value)| HeaderRow {
            name,
            value,
            class: match header_kind(name) {
                HeaderKind::Forwarding => "fwd",
                HeaderKind::Identity => "id",
                HeaderKind::Other => "",
            },
        })
        .collect();
    AppPage {
        name_vi: app.name_vi(),
        name_en: app.name_en(),
        caption: app.table_caption(),
        columns: app.columns(),
        rows: app.rows(),
        seen,
        headers,
    }
    .render()
}
