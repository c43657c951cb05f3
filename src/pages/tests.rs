use super::*;

fn html(page: ErrorPage, request_id: &str, branding: &Branding) -> String {
    let (content_type, body) = render_error(page, request_id, None, branding);
    assert_eq!(content_type, HTML_CONTENT_TYPE);
    String::from_utf8(body.to_vec()).expect("pages are UTF-8")
}

fn accept(value: &'static str) -> HeaderValue {
    HeaderValue::from_static(value)
}

#[test]
fn every_page_renders_with_its_status_and_the_request_id() {
    let branding = Branding::default();
    for page in ErrorPage::ALL {
        let body = html(page, "req-7f3a9c", &branding);
        let status = page.status();
        assert!(
            status.is_client_error() || status.is_server_error(),
            "{page:?}"
        );
        assert!(
            body.contains(&format!(">{}<", status.as_u16())),
            "{page:?} lacks its status"
        );
        assert!(
            body.contains("<code>req-7f3a9c</code>"),
            "{page:?} lacks the request id"
        );
        assert!(body.contains("Mã yêu cầu"), "{page:?}");
        assert!(body.contains(error_text(page).title_vi), "{page:?}");
        assert!(body.contains(error_text(page).title_en), "{page:?}");
        assert!(body.starts_with("<!DOCTYPE html>"), "{page:?}");
        assert!(body.contains("<meta charset=\"utf-8\">"));
        assert!(
            !body.contains("<script"),
            "{page:?} must need no JavaScript"
        );
    }
}

#[test]
fn statuses_match_the_pages() {
    let expected = [400, 404, 403, 413, 431, 429, 502, 503, 504, 500];
    let actual: Vec<u16> = ErrorPage::ALL.iter().map(|p| p.status().as_u16()).collect();
    assert_eq!(actual, expected);
    let codes: std::collections::HashSet<_> = ErrorPage::ALL.iter().map(|p| p.code()).collect();
    assert_eq!(codes.len(), ErrorPage::ALL.len(), "codes are distinct");
}

#[test]
fn not_found_page_says_so_in_vietnamese_and_links_home() {
    let body = html(ErrorPage::NotFound, "r1", &Branding::default());
    assert!(body.contains("Không tìm thấy trang"));
    assert!(body.contains("href=\"/\""));
}

#[test]
fn bad_gateway_page_tells_the_user_to_retry() {
    let body = html(ErrorPage::BadGateway, "r1", &Branding::default());
    assert!(body.contains("Ứng dụng tạm thời không phản hồi"));
    assert!(body.contains("Thử lại sau ít phút"));
}

#[test]
fn hostile_request_id_is_escaped() {
    let body = html(
        ErrorPage::InternalError,
        "<script>alert(\"x\")</script>&",
        &Branding::default(),
    );
    assert!(!body.contains("<script>"));
    // askama escapes with numeric references: < → &#60;, > → &#62;, & → &#38;, " → &#34;.
    assert!(body.contains("&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;&#38;"));
}

#[test]
fn branding_is_shown_and_escaped() {
    let branding = Branding {
        site_name: "Cổng dịch vụ tập trung — UBND tỉnh Nam Định".to_owned(),
        logo_url: Some("/static/logo.png?a=1&b=\"2\"".to_owned()),
    };
    let body = html(ErrorPage::Forbidden, "r1", &branding);
    assert!(body.contains("Cổng dịch vụ tập trung — UBND tỉnh Nam Định"));
    assert!(body.contains("<img src=\"/static/logo.png?a=1&#38;b=&#34;2&#34;\""));
    let without_logo = html(ErrorPage::Forbidden, "r1", &Branding::default());
    assert!(!without_logo.contains("<img"));
    assert!(without_logo.contains("govgate"));
}

#[test]
fn json_variant_parses_and_carries_code_message_and_request_id() {
    for page in ErrorPage::ALL {
        let hostile = "id\"<script>\\";
        let (content_type, body) = render_error(
            page,
            hostile,
            Some(&accept("application/json")),
            &Branding::default(),
        );
        assert_eq!(content_type, JSON_CONTENT_TYPE);
        let value: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
        assert_eq!(value["error"], page.code());
        assert_eq!(value["request_id"], hostile);
        assert!(!value["message"].as_str().unwrap_or_default().is_empty());
        assert!(!value["message_vi"].as_str().unwrap_or_default().is_empty());
    }
}

#[test]
fn browsers_get_html_even_when_they_also_accept_json() {
    let browser = accept("text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8");
    let (ct, _) = render_error(
        ErrorPage::NotFound,
        "r",
        Some(&browser),
        &Branding::default(),
    );
    assert_eq!(ct, HTML_CONTENT_TYPE);
    let (ct, _) = render_error(
        ErrorPage::NotFound,
        "r",
        Some(&accept("*/*")),
        &Branding::default(),
    );
    assert_eq!(ct, HTML_CONTENT_TYPE);
    let (ct, _) = render_error(ErrorPage::NotFound, "r", None, &Branding::default());
    assert_eq!(ct, HTML_CONTENT_TYPE);
    let api = accept("Application/JSON; charset=utf-8");
    let (ct, _) = render_error(ErrorPage::NotFound, "r", Some(&api), &Branding::default());
    assert_eq!(ct, JSON_CONTENT_TYPE);
}

#[test]
fn non_ascii_accept_header_falls_back_to_html() {
    let odd = HeaderValue::from_bytes(b"application/json\xff").expect("obs-text is allowed");
    let (ct, body) = render_error(ErrorPage::BadRequest, "r", Some(&odd), &Branding::default());
    assert_eq!(ct, HTML_CONTENT_TYPE);
    assert!(std::str::from_utf8(&body).is_ok());
}
