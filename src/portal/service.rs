//! The portal's endpoints: login, logout, the app launcher, forward-auth, the single sign-on
//! hand-off for app hosts outside the cookie domain, and the JWKS.
//!
//! Every path is served under the reserved prefix `/.govgate/` on every host, and also at its
//! short name (`/login`, `/logout`, `/auth/verify`, `/`) wherever no app claims that path.

use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::csrf::{self, CsrfKey};
use super::http::{html, json, query_param, read_form, redirect, widen_page_policy};
use super::pages::{render, AppLink, HomePage, LoginPage, LogoutPage, UnavailablePage};
use super::return_url::safe_return_url;
use super::text::Lang;
use crate::audit::{AuditEvent, AuditLog, LoginFailureReason};
use crate::bruteforce::{LoginGuard, Verdict};
use crate::directory::{DirectoryError, SharedDirectory};
use crate::identity::headers::IdentityHeaderNames;
use crate::identity::AuthStrength;
use crate::keys::{AssertionCache, KeyRing};
use crate::pages::Branding;
use crate::proxy::admit::login_url;
use crate::session::{Session, SessionService};

/// Reserved prefix answered by the gateway on every host.
pub const RESERVED_PREFIX: &str = "/.govgate/";
/// Pre-login cookie that binds the login form's CSRF token to this browser.
const LOGIN_BINDING_COOKIE: &str = "govgate_login";

/// An app as the launcher and the return-URL check see it.
#[derive(Debug, Clone)]
pub struct PortalApp {
    pub id: String,
    pub name: String,
    /// Exact host names and `*.` patterns, lowercase; empty = any host.
    pub hosts: Vec<String>,
    pub url: String,
    /// The path the launcher's link opens (the app's path prefix), which policies decide on.
    pub entry_path: String,
    /// `access = "public"`: listed for everyone.
    pub public: bool,
}

/// Where a request came from, as the server knows it.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub client_ip: IpAddr,
    pub https: bool,
}

/// The portal and everything it works with.
pub struct Portal {
    pub sessions: Arc<SessionService>,
    pub directory: Option<SharedDirectory>,
    pub guard: Arc<LoginGuard>,
    pub audit: AuditLog,
    pub csrf: CsrfKey,
    pub keys: Arc<KeyRing>,
    pub assertions: Arc<AssertionCache>,
    pub headers: IdentityHeaderNames,
    pub branding: Branding,
    /// The portal's own host (from `portal.public_url`), when configured.
    pub portal_host: Option<String>,
    /// `portal.public_url` without a trailing `/`, when configured.
    pub public_url: Option<String>,
    pub apps: ArcSwap<Vec<PortalApp>>,
    /// The access policies: the launcher lists only the apps the user may open, and
    /// forward-auth refuses what they deny.
    pub authorizer: Option<crate::proxy::admit::Authorizer>,
    /// Told of every logout, so the OpenID Connect clients of the session end with it.
    pub logout_listener: Option<Arc<dyn crate::session::SessionEndListener>>,
    /// Where the login form's submission may end besides here: the OpenID Connect
    /// clients' URIs (CSP sources; `Provider::form_targets`).
    pub form_targets: Vec<String>,
}

/// The path of an absolute URL (`https://host/a/b?q` → `/a/b`), without its query.
fn url_path(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme
        .find('/')
        .map_or("/", |start| &after_scheme[start..]);
    path.split(['?', '#']).next().unwrap_or("/").to_string()
}

/// Which portal endpoint a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Home,
    Login,
    Logout,
    Verify,
    SsoStart,
    SsoRedeem,
    Jwks,
}

impl Endpoint {
    /// The endpoint under the reserved prefix (`/.govgate/login`).
    pub fn reserved(path: &str) -> Option<Self> {
        Self::named(path.strip_prefix(RESERVED_PREFIX)?)
    }

    /// The endpoint at its short name, used where no app claims the path.
    pub fn short(path: &str) -> Option<Self> {
        match path {
            "/" => Some(Endpoint::Home),
            "/.well-known/jwks.json" => Some(Endpoint::Jwks),
            _ => Self::named(path.strip_prefix('/')?),
        }
    }

    fn named(name: &str) -> Option<Self> {
        match name {
            "" | "home" => Some(Endpoint::Home),
            "login" => Some(Endpoint::Login),
            "logout" => Some(Endpoint::Logout),
            "auth/verify" => Some(Endpoint::Verify),
            "sso/start" => Some(Endpoint::SsoStart),
            "sso" => Some(Endpoint::SsoRedeem),
            "jwks.json" => Some(Endpoint::Jwks),
            _ => None,
        }
    }
}

impl Portal {
    /// Answers one portal request.
    pub async fn handle(
        &self,
        endpoint: Endpoint,
        request: Request<Incoming>,
        caller: Caller,
    ) -> Response<Bytes> {
        let lang = Lang::from_param(query_param(request.uri(), "lang").as_deref());
        match (endpoint, request.method().clone()) {
            (Endpoint::Login, Method::POST) => self.login_submit(request, caller).await,
            (Endpoint::Login, _) => self.login_form(&request, caller, lang).await,
            (Endpoint::Logout, Method::POST) => self.logout_submit(request, caller).await,
            (Endpoint::Logout, _) => self.logout_confirm(&request, lang).await,
            (Endpoint::Home, _) => self.home(&request, caller, lang).await,
            (Endpoint::Verify, _) => self.verify(&request, caller).await,
            (Endpoint::SsoStart, _) => self.sso_start(&request, caller).await,
            (Endpoint::SsoRedeem, _) => self.sso_redeem(&request, caller).await,
            (Endpoint::Jwks, _) => json(StatusCode::OK, &self.keys.load().jwks()),
        }
    }

    /// Replaces the app list after a configuration reload.
    pub fn set_apps(&self, apps: Vec<PortalApp>) {
        self.apps.store(Arc::new(apps));
    }

    // ----- sessions -----

    async fn current_session(&self, headers: &HeaderMap, host: &str) -> Option<Session> {
        let id = self.sessions.session_id_from(headers)?;
        match self.sessions.get(&id).await {
            Ok(Some(session)) if session.host.as_deref().is_none_or(|h| h == host) => Some(session),
            Ok(_) => None,
            Err(error) => {
                tracing::error!(%error, "session store unavailable");
                None
            }
        }
    }

    // ----- login -----

    async fn login_form(
        &self,
        request: &Request<Incoming>,
        caller: Caller,
        lang: Lang,
    ) -> Response<Bytes> {
        let host = request_host(request);
        let return_url = query_param(request.uri(), "rd")
            .and_then(|rd| self.safe_return(&rd, &host))
            .unwrap_or_default();
        // `prompt=login` (an OpenID Connect client asking for a fresh login) shows the form
        // even to someone logged in.
        let fresh_login = query_param(request.uri(), "prompt").as_deref() == Some("login");
        if !fresh_login
            && self
                .current_session(request.headers(), &host)
                .await
                .is_some()
        {
            return redirect(StatusCode::SEE_OTHER, after_login(&return_url));
        }
        self.login_page(caller, lang, None, "", &return_url)
    }

    /// The login form, with a fresh CSRF binding cookie; `error` after a failed attempt.
    fn login_page(
        &self,
        caller: Caller,
        lang: Lang,
        error: Option<&str>,
        username: &str,
        return_url: &str,
    ) -> Response<Bytes> {
        let Some(binding) = csrf::random_binding() else {
            return html(StatusCode::INTERNAL_SERVER_ERROR, "no randomness".into());
        };
        let token = self.csrf.token("login", &binding);
        let switch = format!(
            "{RESERVED_PREFIX}login?lang={}&rd={}",
            lang.other().text().lang_code,
            encode(return_url)
        );
        let page = LoginPage {
            branding: &self.branding,
            text: lang.text(),
            lang_switch_url: &switch,
            action: &format!("{RESERVED_PREFIX}login"),
            csrf_token: &token,
            return_url,
            username,
            error,
        };
        let status = if error.is_some() {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        let mut response = html(status, render(&page));
        // After login the browser may be sent on to an OpenID Connect client.
        widen_page_policy(&mut response, &[], &self.form_targets);
        let cookie = format!(
            "{LOGIN_BINDING_COOKIE}={binding}; Path=/; HttpOnly; SameSite=Strict; Max-Age=1800{}",
            if caller.https { "; Secure" } else { "" }
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
        response
    }

    async fn login_submit(&self, request: Request<Incoming>, caller: Caller) -> Response<Bytes> {
        let (parts, body) = request.into_parts();
        let form = match read_form(&parts.headers, body).await {
            Ok(form) => form,
            Err(error) => {
                tracing::info!(%error, "login form refused");
                return html(
                    StatusCode::BAD_REQUEST,
                    "Biểu mẫu không hợp lệ / invalid form".into(),
                );
            }
        };
        let lang = Lang::from_param(form.get("lang"));
        let text = lang.text();
        let request = Request::from_parts(parts, ());
        let username = form.get("username").unwrap_or("").trim().to_string();
        let password = form.get("password").unwrap_or("");
        let host = request_host(&request);
        let return_url = form
            .get("rd")
            .and_then(|rd| self.safe_return(rd, &host))
            .unwrap_or_default();
        let binding = cookie_value(request.headers(), LOGIN_BINDING_COOKIE);
        let csrf_ok =
            binding.is_some_and(|b| self.csrf.verify("login", b, form.get("csrf").unwrap_or("")));
        let retry = |error: &'static str| {
            self.login_page(caller, lang, Some(error), &username, &return_url)
        };
        if !csrf_ok {
            return retry(text.form_expired);
        }
        let ip = caller.client_ip;
        match self.guard.check(&username, ip).await {
            Ok(Verdict::Allowed) => {}
            Ok(Verdict::Locked(_)) => {
                self.audit_failure(&username, ip, LoginFailureReason::LockedOut)
                    .await;
                return retry(text.bad_credentials);
            }
            Err(error) => {
                tracing::error!(%error, "login protection store unavailable");
                return self.unavailable(lang, &return_url);
            }
        }
        let Some(directory) = &self.directory else {
            return self.unavailable(lang, &return_url);
        };
        match directory.authenticate(&username, password).await {
            Ok(identity) => {
                if let Err(error) = self.guard.record_success(&username).await {
                    tracing::warn!(%error, "cannot reset the login failure counter");
                }
                // A new session id at every login: no fixation.
                if let Some(old) = self.sessions.session_id_from(request.headers()) {
                    let _ = self.sessions.destroy(&old).await;
                }
                let session = match self.sessions.create(identity, AuthStrength::Password).await {
                    Ok(session) => session,
                    Err(error) => {
                        tracing::error!(%error, "cannot store the new session");
                        return self.unavailable(lang, &return_url);
                    }
                };
                self.record(AuditEvent::LoginSucceeded {
                    username: session.identity.username.clone(),
                    client_ip: Some(ip),
                    strength: AuthStrength::Password,
                })
                .await;
                let mut response = redirect(StatusCode::SEE_OTHER, after_login(&return_url));
                response.headers_mut().append(
                    header::SET_COOKIE,
                    self.sessions.cookie(&session, caller.https),
                );
                response
                    .headers_mut()
                    .append(header::SET_COOKIE, clear_binding(caller.https));
                response
            }
            Err(DirectoryError::InvalidCredentials) => {
                self.count_failure(&username, ip).await;
                self.audit_failure(&username, ip, LoginFailureReason::BadCredentials)
                    .await;
                retry(text.bad_credentials)
            }
            Err(DirectoryError::AccountDisabled) => {
                self.count_failure(&username, ip).await;
                self.audit_failure(&username, ip, LoginFailureReason::AccountDisabled)
                    .await;
                retry(text.account_disabled)
            }
            Err(error) => {
                tracing::error!(%error, "directory unavailable during login");
                self.audit_failure(&username, ip, LoginFailureReason::DirectoryUnavailable)
                    .await;
                self.unavailable(lang, &return_url)
            }
        }
    }

    async fn count_failure(&self, username: &str, ip: IpAddr) {
        match self.guard.record_failure(username, ip).await {
            Ok(lockouts) => {
                for lockout in lockouts {
                    self.record(AuditEvent::LockedOut {
                        subject: lockout.subject,
                        until: lockout.until,
                        client_ip: Some(ip),
                    })
                    .await;
                }
            }
            Err(error) => tracing::error!(%error, "cannot count a failed login"),
        }
    }

    async fn audit_failure(&self, username: &str, ip: IpAddr, reason: LoginFailureReason) {
        self.record(AuditEvent::LoginFailed {
            username: username.to_string(),
            client_ip: Some(ip),
            reason,
        })
        .await;
    }

    async fn record(&self, event: AuditEvent) {
        if let Err(error) = self.audit.record(event).await {
            tracing::error!(%error, "audit record not written");
        }
    }

    fn unavailable(&self, lang: Lang, return_url: &str) -> Response<Bytes> {
        let retry = format!(
            "{RESERVED_PREFIX}login?lang={}&rd={}",
            lang.text().lang_code,
            encode(return_url)
        );
        html(
            StatusCode::SERVICE_UNAVAILABLE,
            render(&UnavailablePage {
                branding: &self.branding,
                text: lang.text(),
                retry_url: &retry,
            }),
        )
    }

    /// A return URL on this host, the portal's, or a registered app host; else `None`.
    fn safe_return(&self, candidate: &str, current_host: &str) -> Option<String> {
        let apps = self.apps.load();
        let allowed = |host: &str| {
            host == current_host
                || self.portal_host.as_deref() == Some(host)
                || apps
                    .iter()
                    .flat_map(|app| app.hosts.iter())
                    .any(|pattern| host_matches(pattern, host))
        };
        safe_return_url(candidate, &allowed)
    }

    // ----- home and logout -----

    async fn home(
        &self,
        request: &Request<Incoming>,
        caller: Caller,
        lang: Lang,
    ) -> Response<Bytes> {
        let host = request_host(request);
        let Some(session) = self.current_session(request.headers(), &host).await else {
            return redirect(
                StatusCode::FOUND,
                &format!("{RESERVED_PREFIX}login?lang={}", lang.text().lang_code),
            );
        };
        let apps: Vec<AppLink> = self
            .apps
            .load()
            .iter()
            .filter(|app| self.may_open(&session, app, caller))
            .map(|app| AppLink {
                name: app.name.clone(),
                url: app.url.clone(),
            })
            .collect();
        let switch = format!("/?lang={}", lang.other().text().lang_code);
        let logout_csrf = self.csrf.token("logout", session.id.as_str());
        html(
            StatusCode::OK,
            render(&HomePage {
                branding: &self.branding,
                text: lang.text(),
                lang_switch_url: &switch,
                display_name: &session.identity.display_name,
                apps: &apps,
                logout_action: &format!("{RESERVED_PREFIX}logout"),
                logout_csrf: &logout_csrf,
            }),
        )
    }

    /// Whether the launcher lists `app` for this user: public apps always; others when the
    /// policies allow opening the app's entry page (every app when no policies are configured).
    fn may_open(&self, session: &Session, app: &PortalApp, caller: Caller) -> bool {
        let Some(authorizer) = &self.authorizer else {
            return true;
        };
        if app.public {
            return true;
        }
        let request = crate::proxy::admit::RouteRequest {
            app: &app.id,
            method: "GET",
            path: &app.entry_path,
            client_ip: caller.client_ip,
            signed: false,
            worker: 0,
        };
        authorizer
            .decide(
                session,
                crate::policy::Target::Route { app: &app.id },
                &request,
            )
            .allowed
    }

    async fn logout_confirm(&self, request: &Request<Incoming>, lang: Lang) -> Response<Bytes> {
        let host = request_host(request);
        let session = self.current_session(request.headers(), &host).await;
        let csrf = session
            .as_ref()
            .map(|s| self.csrf.token("logout", s.id.as_str()));
        self.logout_page(lang, csrf.as_deref())
    }

    fn logout_page(&self, lang: Lang, csrf: Option<&str>) -> Response<Bytes> {
        self.logout_page_with(lang, csrf, &[])
    }

    /// The logged-out notice, loading the front-channel logout pages of the session's apps.
    fn logged_out_page(&self, lang: Lang, frames: &[String]) -> Response<Bytes> {
        let mut response = self.logout_page_with(lang, None, frames);
        widen_page_policy(&mut response, frames, &[]);
        response
    }

    fn logout_page_with(
        &self,
        lang: Lang,
        csrf: Option<&str>,
        frames: &[String],
    ) -> Response<Bytes> {
        html(
            StatusCode::OK,
            render(&LogoutPage {
                branding: &self.branding,
                text: lang.text(),
                action: &format!("{RESERVED_PREFIX}logout"),
                csrf,
                login_url: &format!("{RESERVED_PREFIX}login?lang={}", lang.text().lang_code),
                frames,
            }),
        )
    }

    async fn logout_submit(&self, request: Request<Incoming>, caller: Caller) -> Response<Bytes> {
        let (parts, body) = request.into_parts();
        let form = read_form(&parts.headers, body).await.unwrap_or_default();
        let lang = Lang::from_param(form.get("lang"));
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(host_only)
            .unwrap_or_default();
        let Some(session) = self.current_session(&parts.headers, &host).await else {
            return self.logout_page(lang, None);
        };
        if !self.csrf.verify(
            "logout",
            session.id.as_str(),
            form.get("csrf").unwrap_or(""),
        ) {
            // A forged or stale form: ask again rather than log out.
            return self.logout_page(lang, Some(&self.csrf.token("logout", session.id.as_str())));
        }
        if let Err(error) = self.sessions.destroy(&session.id).await {
            tracing::error!(%error, "cannot delete the session");
            return self.unavailable(lang, "");
        }
        self.assertions.forget_session(session.id.as_str());
        self.record(AuditEvent::LoggedOut {
            username: session.identity.username.clone(),
            client_ip: Some(caller.client_ip),
        })
        .await;
        let frames = match &self.logout_listener {
            Some(listener) => listener.session_ended(&session).await,
            None => Vec::new(),
        };
        let mut response = self.logged_out_page(lang, &frames);
        response.headers_mut().append(
            header::SET_COOKIE,
            self.sessions.clear_cookie_of(&session, caller.https),
        );
        response
    }

    // ----- forward-auth -----

    /// `GET /auth/verify` for nginx `auth_request` (401 when not logged in) or Traefik/Caddy
    /// (`?mode=redirect`: 302 to the login page).
    async fn verify(&self, request: &Request<Incoming>, caller: Caller) -> Response<Bytes> {
        let headers = request.headers();
        let original = original_url(headers, caller.https);
        let original_host = original
            .as_deref()
            .and_then(url_host)
            .unwrap_or_else(|| request_host(request));
        if let Some(session) = self.current_session(headers, &original_host).await {
            let app_id = query_param(request.uri(), "app").unwrap_or_else(|| original_host.clone());
            if let Some(refusal) = self
                .forward_auth_refusal(&session, &app_id, headers, original.as_deref(), caller)
                .await
            {
                return refusal;
            }
            let mut response = Response::new(Bytes::new());
            let assertion = self
                .assertions
                .assertion(session.id.as_str(), &app_id, &session.identity)
                .ok();
            self.headers
                .apply(response.headers_mut(), &session.identity, assertion);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return response;
        }
        let redirect_mode = query_param(request.uri(), "mode").as_deref() == Some("redirect");
        let rd = original.unwrap_or_default();
        // The same place the proxy sends browsers: the portal (or its hand-off for hosts
        // outside the cookie domain) when it has an address, else this host.
        let cookie_domain = self.sessions.settings().cookie_domain.as_deref();
        let login = login_url(
            self.public_url.as_deref(),
            cookie_domain.map(|d| d.trim_start_matches('.')),
            &original_host,
            &rd,
        );
        if redirect_mode {
            return redirect(StatusCode::FOUND, &login);
        }
        let mut response = json(
            StatusCode::UNAUTHORIZED,
            &serde_json::json!({"error": "login_required", "login_url": login}),
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Cookie realm=\"govgate\""),
        );
        response
    }

    /// Forward-auth under access policies: the app (`?app=` or the original host) and the
    /// original method and path decide; a denial is audited and answered 403.
    async fn forward_auth_refusal(
        &self,
        session: &Session,
        app_id: &str,
        headers: &HeaderMap,
        original: Option<&str>,
        caller: Caller,
    ) -> Option<Response<Bytes>> {
        let authorizer = self.authorizer.as_ref()?;
        let method = headers
            .get("x-original-method")
            .or_else(|| headers.get("x-forwarded-method"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("GET")
            .to_ascii_uppercase();
        let path = original.map(url_path).unwrap_or_else(|| "/".to_string());
        let request = crate::proxy::admit::RouteRequest {
            app: app_id,
            method: &method,
            path: &path,
            client_ip: caller.client_ip,
            signed: false,
            worker: 0,
        };
        let decision = authorizer.decide(
            session,
            crate::policy::Target::Route { app: app_id },
            &request,
        );
        if decision.allowed {
            return None;
        }
        let request_id = crate::proxy::request_id::new_request_id();
        let request_id = request_id.to_str().unwrap_or("-");
        authorizer
            .record_denial(session, &decision, &request, request_id)
            .await;
        Some(json(
            StatusCode::FORBIDDEN,
            &serde_json::json!({"error": "forbidden", "request_id": request_id}),
        ))
    }

    // ----- SSO hand-off for app hosts outside the cookie domain -----

    /// On the portal host: the user is logged in here; send them to the app host with a code.
    async fn sso_start(&self, request: &Request<Incoming>, caller: Caller) -> Response<Bytes> {
        let host = request_host(request);
        let Some(rd) = query_param(request.uri(), "rd").and_then(|rd| self.safe_return(&rd, &host))
        else {
            return redirect(StatusCode::FOUND, RESERVED_PREFIX);
        };
        let Some(session) = self.current_session(request.headers(), &host).await else {
            let back = format!("{RESERVED_PREFIX}sso/start?rd={}", encode(&rd));
            return redirect(
                StatusCode::FOUND,
                &format!("{RESERVED_PREFIX}login?rd={}", encode(&back)),
            );
        };
        let Some(target_host) = url_host(&rd) else {
            return redirect(StatusCode::FOUND, &rd);
        };
        let _ = caller;
        match self
            .sessions
            .issue_handoff_code(&session, &target_host)
            .await
        {
            Ok(code) => {
                let origin = rd.split('/').take(3).collect::<Vec<_>>().join("/");
                redirect(
                    StatusCode::FOUND,
                    &format!(
                        "{origin}{RESERVED_PREFIX}sso?code={}&rd={}",
                        encode(&code),
                        encode(&rd)
                    ),
                )
            }
            Err(error) => {
                tracing::error!(%error, "cannot issue an SSO hand-off code");
                self.unavailable(Lang::Vi, &rd)
            }
        }
    }

    /// On the app host: trade the single-use code for a host-only session cookie.
    async fn sso_redeem(&self, request: &Request<Incoming>, caller: Caller) -> Response<Bytes> {
        let host = request_host(request);
        let rd = query_param(request.uri(), "rd")
            .and_then(|rd| self.safe_return(&rd, &host))
            .filter(|rd| url_host(rd).is_none_or(|h| h == host));
        let code = query_param(request.uri(), "code").unwrap_or_default();
        match self.sessions.redeem_handoff_code(&code, &host).await {
            Ok(Some(session)) => {
                let mut response = redirect(StatusCode::FOUND, rd.as_deref().unwrap_or("/"));
                response.headers_mut().append(
                    header::SET_COOKIE,
                    self.sessions.cookie(&session, caller.https),
                );
                response
            }
            Ok(None) => redirect(StatusCode::FOUND, &format!("{RESERVED_PREFIX}login")),
            Err(error) => {
                tracing::error!(%error, "cannot redeem an SSO hand-off code");
                self.unavailable(Lang::Vi, "")
            }
        }
    }
}

/// Where to go after logging in: the validated return URL, or the portal home.
fn after_login(return_url: &str) -> &str {
    if return_url.is_empty() {
        RESERVED_PREFIX
    } else {
        return_url
    }
}

/// The request's host, lowercase, without port.
fn request_host<B>(request: &Request<B>) -> String {
    request
        .uri()
        .host()
        .map(str::to_string)
        .or_else(|| {
            request
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(host_only)
        })
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn host_only(authority: &str) -> String {
    let host = if authority.starts_with('[') {
        authority
            .find(']')
            .map_or(authority, |end| &authority[..=end])
    } else {
        authority
            .rsplit_once(':')
            .map_or(authority, |(name, _)| name)
    };
    host.to_ascii_lowercase()
}

/// The host of an absolute URL.
fn url_host(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    uri.host().map(|h| h.to_ascii_lowercase())
}

/// Exact host or `*.suffix` pattern (one or more labels in front).
fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some(suffix) => host.len() > suffix.len() && host.ends_with(suffix),
        None => pattern == host,
    }
}

/// The URL a forward-auth caller is checking: `X-Original-URL` (nginx), or
/// `X-Forwarded-Proto` + `-Host` + `-Uri` (Traefik, Caddy).
fn original_url(headers: &HeaderMap, https: bool) -> Option<String> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if let Some(url) = get("x-original-url") {
        return Some(url);
    }
    let host = get("x-forwarded-host")?;
    let proto =
        get("x-forwarded-proto")
            .unwrap_or_else(|| if https { "https".into() } else { "http".into() });
    let uri = get("x-forwarded-uri").unwrap_or_else(|| "/".into());
    Some(format!("{proto}://{host}{uri}"))
}

/// The value of cookie `name` in the request, if exactly one is present.
fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(key, _)| *key == name)
        .map(|(_, value)| value);
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

fn clear_binding(https: bool) -> HeaderValue {
    let cookie = format!(
        "{LOGIN_BINDING_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if https { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_by_path() {
        assert_eq!(Endpoint::reserved("/.govgate/login"), Some(Endpoint::Login));
        assert_eq!(
            Endpoint::reserved("/.govgate/auth/verify"),
            Some(Endpoint::Verify)
        );
        assert_eq!(Endpoint::reserved("/login"), None);
        assert_eq!(Endpoint::short("/login"), Some(Endpoint::Login));
        assert_eq!(Endpoint::short("/"), Some(Endpoint::Home));
        assert_eq!(Endpoint::short("/mot-cua"), None);
    }

    #[test]
    fn forward_auth_reads_the_original_url() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-host",
            HeaderValue::from_static("motcua.namdinh.gov.vn"),
        );
        h.insert("x-forwarded-uri", HeaderValue::from_static("/ho-so?id=1"));
        assert_eq!(
            original_url(&h, true).as_deref(),
            Some("https://motcua.namdinh.gov.vn/ho-so?id=1")
        );
        h.insert(
            "x-original-url",
            HeaderValue::from_static("http://a.gov.vn/x"),
        );
        assert_eq!(original_url(&h, true).as_deref(), Some("http://a.gov.vn/x"));
    }

    #[test]
    fn duplicate_binding_cookies_are_not_trusted() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("govgate_login=a; other=1"),
        );
        assert_eq!(cookie_value(&h, "govgate_login"), Some("a"));
        h.append(header::COOKIE, HeaderValue::from_static("govgate_login=b"));
        assert_eq!(cookie_value(&h, "govgate_login"), None);
    }
}
