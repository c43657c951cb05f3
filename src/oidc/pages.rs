//! The provider's pages (askama templates in `templates/oidc/`, on the shared layout) and
//! the form tokens that protect them.

use askama::Template;
use aws_lc_rs::hmac;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

use super::types::{constant_time_eq, Scopes};
use crate::pages::Branding;
pub use crate::portal::pages::render;
use crate::session::Session;

/// The script of the form_post page (its hash goes into the page's CSP).
pub const FORM_POST_SCRIPT: &str = "document.forms[0].submit();";

/// A scope as the consent page explains it.
pub struct ScopeText {
    pub vi: String,
    pub en: String,
}

#[derive(Template)]
#[template(path = "oidc/consent.html")]
pub struct ConsentPage<'a> {
    pub branding: &'a Branding,
    pub client_name: &'a str,
    pub scopes: Vec<ScopeText>,
    pub action: &'a str,
    pub resume: &'a str,
    pub csrf: &'a str,
}

#[derive(Template)]
#[template(path = "oidc/message.html")]
pub struct MessagePage<'a> {
    pub branding: &'a Branding,
    pub title: &'a str,
    pub message: &'a str,
    pub continue_url: Option<&'a str>,
    /// Front-channel logout pages, loaded invisibly.
    pub frames: &'a [String],
}

#[derive(Template)]
#[template(path = "oidc/logout_confirm.html")]
pub struct LogoutConfirmPage<'a> {
    pub branding: &'a Branding,
    pub action: &'a str,
    pub fields: &'a [(String, String)],
    pub csrf: &'a str,
    pub client_name: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "oidc/form_post.html")]
pub struct FormPostPage<'a> {
    pub action: &'a str,
    pub fields: &'a [(String, String)],
    pub script: &'a str,
}

/// What each scope releases, in Vietnamese and English.
pub fn scope_texts(scopes: &Scopes) -> Vec<ScopeText> {
    scopes
        .iter()
        .map(|scope| {
            let (vi, en) = match scope {
                "openid" => ("Mã định danh của bạn", "Your identifier"),
                "profile" => (
                    "Họ tên, tên đăng nhập và đơn vị công tác",
                    "Your name, user name and department",
                ),
                "email" => ("Địa chỉ thư điện tử", "Your e-mail address"),
                "groups" => ("Các nhóm bạn thuộc về", "The groups you belong to"),
                "roles" => ("Vai trò của bạn", "Your roles"),
                "offline_access" => (
                    "Truy cập khi bạn không đăng nhập",
                    "Access while you are not logged in",
                ),
                other => {
                    return ScopeText {
                        vi: format!("Quyền “{other}”"),
                        en: format!("The “{other}” permission"),
                    }
                }
            };
            ScopeText {
                vi: vi.to_string(),
                en: en.to_string(),
            }
        })
        .collect()
}

/// The CSP `script-src` source of the form_post page's one script.
pub fn form_post_script_hash() -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, FORM_POST_SCRIPT.as_bytes());
    format!("'sha256-{}'", STANDARD.encode(digest.as_ref()))
}

/// A form token bound to the session and to `purpose:binding`.
fn token(session: &Session, purpose: &str, binding: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, &session.csrf_key);
    let tag = hmac::sign(&key, format!("oidc-{purpose}:{binding}").as_bytes());
    URL_SAFE_NO_PAD.encode(tag.as_ref())
}

pub fn consent_token(session: &Session, resume: &str) -> String {
    token(session, "consent", resume)
}

pub fn consent_token_matches(session: &Session, resume: &str, submitted: &str) -> bool {
    constant_time_eq(
        consent_token(session, resume).as_bytes(),
        submitted.as_bytes(),
    )
}

pub fn logout_token(session: &Session) -> String {
    token(session, "logout", "")
}

pub fn logout_token_matches(session: &Session, submitted: &str) -> bool {
    constant_time_eq(logout_token(session).as_bytes(), submitted.as_bytes())
}
