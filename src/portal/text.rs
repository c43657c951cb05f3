//! The portal's words, in Vietnamese (the default) and English.

/// Language of the portal pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Vi,
    En,
}

impl Lang {
    /// `en` selects English; anything else (or nothing) is Vietnamese.
    pub fn from_param(value: Option<&str>) -> Self {
        match value {
            Some(v) if v.eq_ignore_ascii_case("en") => Lang::En,
            _ => Lang::Vi,
        }
    }

    pub fn text(self) -> &'static PortalText {
        match self {
            Lang::Vi => &VI,
            Lang::En => &EN,
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Vi => Lang::En,
            Lang::En => Lang::Vi,
        }
    }
}

/// Every sentence a portal page shows.
pub struct PortalText {
    pub lang_code: &'static str,
    pub other_lang_code: &'static str,
    pub other_lang_name: &'static str,
    pub login_title: &'static str,
    pub login_subtitle: &'static str,
    pub username_label: &'static str,
    pub password_label: &'static str,
    pub login_button: &'static str,
    pub login_hint: &'static str,
    pub bad_credentials: &'static str,
    pub account_disabled: &'static str,
    pub form_expired: &'static str,
    pub home_title: &'static str,
    pub greeting: &'static str,
    pub no_apps: &'static str,
    pub logout_button: &'static str,
    pub logout_title: &'static str,
    pub logout_question: &'static str,
    pub logged_out: &'static str,
    pub login_again: &'static str,
    pub unavailable_title: &'static str,
    pub unavailable_body: &'static str,
    pub retry: &'static str,
}

static VI: PortalText = PortalText {
    lang_code: "vi",
    other_lang_code: "en",
    other_lang_name: "English",
    login_title: "Đăng nhập một lần",
    login_subtitle: "Dùng tài khoản công vụ của bạn để vào mọi ứng dụng của tỉnh.",
    username_label: "Tên đăng nhập",
    password_label: "Mật khẩu",
    login_button: "Đăng nhập",
    login_hint: "Quên mật khẩu? Liên hệ bộ phận quản trị hệ thống của đơn vị.",
    bad_credentials: "Tên đăng nhập hoặc mật khẩu không đúng.",
    account_disabled: "Tài khoản đã bị khóa. Liên hệ bộ phận quản trị hệ thống.",
    form_expired: "Phiên của biểu mẫu đã hết hạn. Vui lòng đăng nhập lại.",
    home_title: "Ứng dụng của bạn",
    greeting: "Xin chào,",
    no_apps: "Chưa có ứng dụng nào dành cho bạn.",
    logout_button: "Đăng xuất",
    logout_title: "Đăng xuất",
    logout_question: "Bạn có muốn đăng xuất khỏi mọi ứng dụng không?",
    logged_out: "Bạn đã đăng xuất.",
    login_again: "Đăng nhập lại",
    unavailable_title: "Hệ thống đăng nhập tạm thời gián đoạn",
    unavailable_body: "Không kết nối được với hệ thống tài khoản. Vui lòng thử lại sau ít phút.",
    retry: "Thử lại",
};

static EN: PortalText = PortalText {
    lang_code: "en",
    other_lang_code: "vi",
    other_lang_name: "Tiếng Việt",
    login_title: "Single sign-on",
    login_subtitle: "Use your civil-service account to reach every provincial application.",
    username_label: "Username",
    password_label: "Password",
    login_button: "Log in",
    login_hint: "Forgot your password? Contact your unit's system administrators.",
    bad_credentials: "Wrong username or password.",
    account_disabled: "This account is disabled. Contact your system administrators.",
    form_expired: "The form has expired. Please log in again.",
    home_title: "Your applications",
    greeting: "Hello,",
    no_apps: "No applications are available to you yet.",
    logout_button: "Log out",
    logout_title: "Log out",
    logout_question: "Log out of every application?",
    logged_out: "You have been logged out.",
    login_again: "Log in again",
    unavailable_title: "Login is temporarily unavailable",
    unavailable_body: "The account directory cannot be reached. Please try again in a few minutes.",
    retry: "Try again",
};
