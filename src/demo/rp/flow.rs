//! The demo relying party's endpoints: the authorization-code flow with PKCE, its local
//! session, RP-initiated logout and the back-channel logout receiver.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::{json, Value};

use super::memory::{lock, Expiring, PendingLogin, SignedIn};
use super::page::{render, ErrorView};
use super::provider::{Provider, RpError};
use super::RpSettings;
use crate::session::{CookieSpec, SessionId};

pub const CALLBACK_PATH: &str = "/callback";
pub const BACKCHANNEL_PATH: &str = "/backchannel-logout";
/// What the app asks for: identity, name and department, e-mail, and roles to map.
const SCOPES: &str = "openid profile email roles";
const COOKIE_NAME: &str = "govgate_demo_rp";
/// Logins in flight at once, and how long one may take.
const MAX_PENDING: usize = 1024;
const PENDING_TTL: Duration = Duration::from_secs(600);
/// Signed-in browsers kept, and for how long at most.
const MAX_SESSIONS: usize = 1024;
const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// A logout token is a few hundred bytes; more is not one.
const BACKCHANNEL_BODY_LIMIT: usize = 64 * 1024;

type Body = Full<Bytes>;

pub struct RelyingParty {
    provider: Provider,
    /// `http://127.0.0.1:port`, no trailing slash.
    base: String,
    cookie: CookieSpec,
    logins: Mutex<Expiring<PendingLogin>>,
    sessions: Mutex<Expiring<SignedIn>>,
}

impl RelyingParty {
    pub fn new(settings: RpSettings, base: String) -> RelyingParty {
        RelyingParty {
            provider: Provider::new(settings.issuer, settings.client_id, settings.client_secret),
            base,
            cookie: CookieSpec {
                name: COOKIE_NAME.to_string(),
                domain: None,
            },
            logins: Mutex::new(Expiring::new(MAX_PENDING, PENDING_TTL)),
            sessions: Mutex::new(Expiring::new(MAX_SESSIONS, SESSION_TTL)),
        }
    }

    fn redirect_uri(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.base)
    }

    /// The browser's session, if its cookie names a live one.
    fn signed_in(&self, headers: &HeaderMap) -> Option<(SessionId, SignedIn)> {
        let id = self.cookie.session_id_from(headers)?;
        let user = lock(&self.sessions).get(id.as_str())?.clone();
        Some((id, user))
    }

    fn home(&self, headers: &HeaderMap, query: Option<&str>) -> Response<Body> {
        let user = self.signed_in(headers).map(|(_, user)| user);
        // The provider sends the browser back here with our `state` after logging out.
        let notice = query
            .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "state"))
            .then_some("Đã đăng xuất khỏi cổng đăng nhập một lần. / Signed out of single sign-on.");
        page(StatusCode::OK, user.as_ref(), None, notice)
    }

    async fn login(&self) -> Result<Response<Body>, Failure> {
        let metadata = self.provider.metadata().await.map_err(Failure::provider)?;
        let state = random()?;
        let nonce = random()?;
        let verifier = random()?;
        let challenge = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            verifier.as_bytes(),
        ));
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", self.provider.client_id())
            .append_pair("redirect_uri", &self.redirect_uri())
            .append_pair("scope", SCOPES)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        lock(&self.logins).insert(state, PendingLogin { nonce, verifier });
        Ok(redirect(&format!(
            "{}?{query}",
            metadata.authorization_endpoint
        )))
    }

    async fn callback(&self, query: Option<&str>) -> Result<Response<Body>, Failure> {
        let param = |name: &str| {
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
        };
        let pending = param("state").and_then(|state| lock(&self.logins).take(&state));
        if let Some(error) = param("error") {
            let description = param("error_description").unwrap_or_default();
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "Cổng đăng nhập không cấp quyền đăng nhập",
                format!("the provider answered {error}: {description}"),
            ));
        }
        let Some(pending) = pending else {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "Yêu cầu đăng nhập không hợp lệ hoặc đã hết hạn",
                "unknown, used or expired state: a replayed or forged callback, or a login left too long".into(),
            ));
        };
        let code = param("code").ok_or_else(|| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                "Thiếu mã uỷ quyền",
                "the callback carries no code".into(),
            )
        })?;
        let user = self
            .complete_login(&code, &pending)
            .await
            .map_err(Failure::provider)?;
        let id = SessionId::generate().map_err(|_| Failure::random())?;
        let cookie = self.cookie.set(&id, false);
        lock(&self.sessions).insert(id.as_str().to_string(), user);
        let mut response = redirect("/");
        response.headers_mut().insert(SET_COOKIE, cookie);
        Ok(response)
    }

    /// Code → tokens → checked ID token → userinfo (for the same subject).
    async fn complete_login(
        &self,
        code: &str,
        pending: &PendingLogin,
    ) -> Result<SignedIn, RpError> {
        let tokens = self
            .provider
            .redeem(code, &pending.verifier, &self.redirect_uri())
            .await?;
        let claims = self
            .provider
            .check_id_token(&tokens.id_token, &pending.nonce)
            .await?;
        let userinfo = self.provider.userinfo(&tokens.access_token).await?;
        // OIDC Core §5.3.2: userinfo for another subject must not be used.
        if userinfo.get("sub") != claims.get("sub") {
            return Err(RpError::BadToken {
                kind: "userinfo",
                reason: "sub differs from the ID token's".into(),
            });
        }
        Ok(SignedIn {
            id_token: tokens.id_token,
            claims,
            userinfo,
        })
    }

    /// Ends the local session, then sends the browser to the provider's end-session
    /// endpoint with the ID token as hint, which ends single sign-on everywhere.
    async fn logout(&self, headers: &HeaderMap) -> Result<Response<Body>, Failure> {
        let user = self
            .cookie
            .session_id_from(headers)
            .and_then(|id| lock(&self.sessions).take(id.as_str()));
        let metadata = self.provider.metadata().await.map_err(Failure::provider)?;
        let mut response = match (user, &metadata.end_session_endpoint) {
            (Some(user), Some(end_session)) => {
                let query = form_urlencoded::Serializer::new(String::new())
                    .append_pair("id_token_hint", &user.id_token)
                    .append_pair("post_logout_redirect_uri", &format!("{}/", self.base))
                    .append_pair("state", &random()?)
                    .finish();
                redirect(&format!("{end_session}?{query}"))
            }
            _ => redirect("/"),
        };
        response
            .headers_mut()
            .insert(SET_COOKIE, self.cookie.clear(false));
        Ok(response)
    }

    /// OIDC Back-Channel Logout §2.8: 200 when the token is good (whether or not a session
    /// matched), 400 with an error otherwise.
    async fn backchannel(&self, request: Request<Incoming>) -> Response<Body> {
        let body = match Limited::new(request.into_body(), BACKCHANNEL_BODY_LIMIT)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return logout_refused("body too large or unreadable"),
        };
        let Some(token) = form_urlencoded::parse(&body)
            .find(|(key, _)| key == "logout_token")
            .map(|(_, value)| value.into_owned())
        else {
            return logout_refused("no logout_token");
        };
        let claims = match self.provider.check_logout_token(&token).await {
            Ok(claims) => claims,
            Err(error) => {
                tracing::warn!(%error, "demo app refused a back-channel logout token");
                return logout_refused(&error.to_string());
            }
        };
        let sid = claims.get("sid").and_then(Value::as_str);
        let sub = claims.get("sub").and_then(Value::as_str);
        let ended = lock(&self.sessions).remove_where(|user| match sid {
            Some(sid) => user.sid() == Some(sid),
            None => user.sub() == sub,
        });
        tracing::info!(ended, "demo app: back-channel logout");
        let mut response = Response::new(Full::new(Bytes::new()));
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    fn session_json(&self, headers: &HeaderMap) -> Response<Body> {
        let document = match self.signed_in(headers) {
            Some((_, user)) => json!({
                "signed_in": true,
                "sub": user.sub(),
                "sid": user.sid(),
                "name": user.userinfo.get("name"),
                "roles": user.userinfo.get("roles"),
                "claims": user.claims,
            }),
            None => json!({ "signed_in": false }),
        };
        json_response(StatusCode::OK, &document)
    }
}

/// Serves one request.
pub async fn handle(
    rp: Arc<RelyingParty>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let outcome = match (&method, path.as_str()) {
        (&Method::GET, "/") => Ok(rp.home(request.headers(), query.as_deref())),
        (&Method::GET, "/login") => rp.login().await,
        (&Method::GET, CALLBACK_PATH) => rp.callback(query.as_deref()).await,
        (&Method::GET, "/logout") => rp.logout(request.headers()).await,
        (&Method::POST, BACKCHANNEL_PATH) => Ok(rp.backchannel(request).await),
        (&Method::GET, "/api/session") => Ok(rp.session_json(request.headers())),
        _ => Err(Failure::new(
            StatusCode::NOT_FOUND,
            "Không tìm thấy trang",
            format!("no page at {path}"),
        )),
    };
    Ok(outcome.unwrap_or_else(|failure| {
        page(
            failure.status,
            None,
            Some(ErrorView {
                title: failure.title,
                detail: failure.detail,
            }),
            None,
        )
    }))
}

/// A request that ends on the error page.
struct Failure {
    status: StatusCode,
    title: &'static str,
    detail: String,
}

impl Failure {
    fn new(status: StatusCode, title: &'static str, detail: String) -> Failure {
        Failure {
            status,
            title,
            detail,
        }
    }

    fn provider(error: RpError) -> Failure {
        tracing::warn!(%error, "demo app: sign-in with the provider failed");
        let (status, title) = match &error {
            RpError::Unreachable(_) => (
                StatusCode::BAD_GATEWAY,
                "Không kết nối được cổng đăng nhập một lần",
            ),
            RpError::BadToken { .. } => (
                StatusCode::BAD_GATEWAY,
                "Mã định danh nhận được không hợp lệ",
            ),
            _ => (
                StatusCode::BAD_GATEWAY,
                "Cổng đăng nhập một lần trả lời không như mong đợi",
            ),
        };
        Failure::new(status, title, error.to_string())
    }

    fn random() -> Failure {
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Lỗi hệ thống",
            "the system random generator failed".into(),
        )
    }
}

fn random() -> Result<String, Failure> {
    crate::oidc::types::random_token().map_err(|_| Failure::random())
}

fn page(
    status: StatusCode,
    user: Option<&SignedIn>,
    error: Option<ErrorView>,
    notice: Option<&str>,
) -> Response<Body> {
    let html = render(user, error, notice).unwrap_or_else(|error| {
        tracing::error!(%error, "demo app page did not render");
        "<!DOCTYPE html><title>Lỗi</title><p>Lỗi hiển thị trang.</p>".to_string()
    });
    let mut response = Response::new(Full::new(Bytes::from(html)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn redirect(location: &str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn logout_refused(reason: &str) -> Response<Body> {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({ "error": "invalid_request", "error_description": reason }),
    )
}

fn json_response(status: StatusCode, document: &Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(document.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
