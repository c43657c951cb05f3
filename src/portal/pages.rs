//! The portal's HTML pages (askama templates in `templates/portal/`, on the shared layout).

use askama::Template;

use super::text::PortalText;
use crate::pages::Branding;

#[derive(Template)]
#[template(path = "portal/login.html")]
pub struct LoginPage<'a> {
    pub branding: &'a Branding,
    pub text: &'a PortalText,
    pub lang_switch_url: &'a str,
    pub action: &'a str,
    pub csrf_token: &'a str,
    pub return_url: &'a str,
    /// Echoed back after a failed attempt (escaped by the template).
    pub username: &'a str,
    pub error: Option<&'a str>,
}

/// One tile of the app launcher.
pub struct AppLink {
    pub name: String,
    pub url: String,
}

#[derive(Template)]
#[template(path = "portal/home.html")]
pub struct HomePage<'a> {
    pub branding: &'a Branding,
    pub text: &'a PortalText,
    pub lang_switch_url: &'a str,
    pub display_name: &'a str,
    pub apps: &'a [AppLink],
    pub logout_action: &'a str,
    pub logout_csrf: &'a str,
}

/// The logout confirmation (with a form) or, once done, the logged-out notice.
#[derive(Template)]
#[template(path = "portal/logout.html")]
pub struct LogoutPage<'a> {
    pub branding: &'a Branding,
    pub text: &'a PortalText,
    pub action: &'a str,
    pub csrf: Option<&'a str>,
    pub login_url: &'a str,
    /// Front-channel logout pages of the apps the session reached, loaded invisibly.
    pub frames: &'a [String],
}

#[derive(Template)]
#[template(path = "portal/unavailable.html")]
pub struct UnavailablePage<'a> {
    pub branding: &'a Branding,
    pub text: &'a PortalText,
    pub retry_url: &'a str,
}

/// Renders a page; a template failure (which compile-time checks make unlikely) becomes a
/// plain message rather than a panic.
pub fn render(page: &impl Template) -> String {
    page.render().unwrap_or_else(|error| {
        tracing::error!(%error, "portal page failed to render");
        "<!DOCTYPE html><meta charset=utf-8><p>Lỗi hiển thị trang / page rendering error</p>"
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::text::Lang;

    #[test]
    fn login_page_escapes_the_echoed_username() {
        let branding = Branding::default();
        let html = render(&LoginPage {
            branding: &branding,
            text: Lang::Vi.text(),
            lang_switch_url: "/login?lang=en",
            action: "/login",
            csrf_token: "tok",
            return_url: "/mot-cua/",
            username: "<script>alert(1)</script>",
            error: Some(Lang::Vi.text().bad_credentials),
        });
        assert!(html.contains("Đăng nhập một lần"));
        assert!(html.contains("Tên đăng nhập hoặc mật khẩu không đúng."));
        assert!(!html.contains("<script>alert(1)"));
        assert!(html.contains("name=\"csrf\" value=\"tok\""));
    }

    #[test]
    fn home_lists_apps() {
        let branding = Branding::default();
        let apps = [AppLink {
            name: "Một cửa điện tử".into(),
            url: "/mot-cua/".into(),
        }];
        let html = render(&HomePage {
            branding: &branding,
            text: Lang::En.text(),
            lang_switch_url: "/?lang=vi",
            display_name: "Nguyễn Thị Hằng",
            apps: &apps,
            logout_action: "/logout",
            logout_csrf: "c",
        });
        assert!(html.contains("Your applications"));
        assert!(html.contains("Một cửa điện tử"));
        assert!(html.contains("Nguyễn Thị Hằng"));
    }
}
