//! The demo relying party's one page: signed in (claims), signed out (a button), or an
//! error explained in Vietnamese with the technical detail in English.

use askama::Template;
use serde_json::Value;

use super::memory::SignedIn;

pub struct ErrorView {
    pub title: &'static str,
    pub detail: String,
}

pub struct UserView {
    pub name: String,
    pub userinfo: Vec<(String, String)>,
    pub claims: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "demo/rp.html")]
struct RpPage<'a> {
    signed_in: Option<UserView>,
    error: Option<ErrorView>,
    notice: Option<&'a str>,
}

pub fn render(
    signed_in: Option<&SignedIn>,
    error: Option<ErrorView>,
    notice: Option<&str>,
) -> Result<String, askama::Error> {
    RpPage {
        signed_in: signed_in.map(user_view),
        error,
        notice,
    }
    .render()
}

fn user_view(user: &SignedIn) -> UserView {
    let name = ["name", "preferred_username", "sub"]
        .iter()
        .find_map(|claim| user.userinfo.get(*claim).and_then(Value::as_str))
        .unwrap_or("?")
        .to_string();
    UserView {
        name,
        userinfo: rows(&user.userinfo),
        claims: rows(&user.claims),
    }
}

/// A JSON object's members as table rows: strings as they are, anything else as JSON.
fn rows(object: &Value) -> Vec<(String, String)> {
    object
        .as_object()
        .map(|members| {
            members
                .iter()
                .map(|(name, value)| {
                    let shown = match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    (name.clone(), shown)
                })
                .collect()
        })
        .unwrap_or_default()
}
