//! The thin HTTP adapter: requests to the provider's logic, its outcomes to responses.

use std::net::IpAddr;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};

use super::authorize::{ClientRedirect, Outcome, Params, ResponseMode};
use super::clients::PresentedCredentials;
use super::logout::LogoutOutcome;
use super::pages::{
    form_post_script_hash, render, scope_texts, ConsentPage, FormPostPage, LogoutConfirmPage,
    MessagePage, FORM_POST_SCRIPT,
};
use super::tokens::{check_access_token, BearerError};
use super::types::{ErrorCode, ProtocolError};
use super::userinfo::{claims_for, with_roles};
use super::{Provider, DISCOVERY_PATH, OIDC_PREFIX};
use crate::portal::http::{
    html, json as json_response, origin_of, read_form, redirect, widen_page_policy,
};
use crate::session::Session;

/// The login page (the portal's), which returns to the authorization endpoint.
const LOGIN_PATH: &str = "/.govgate/login";

/// Which provider endpoint a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OidcEndpoint {
    Discovery,
    Jwks,
    Authorize,
    Consent,
    Token,
    UserInfo,
    Introspect,
    Revoke,
    Logout,
}

impl OidcEndpoint {
    pub fn from_path(path: &str) -> Option<Self> {
        if path == DISCOVERY_PATH {
            return Some(OidcEndpoint::Discovery);
        }
        match path.strip_prefix(OIDC_PREFIX)? {
            "jwks" => Some(OidcEndpoint::Jwks),
            "authorize" => Some(OidcEndpoint::Authorize),
            "consent" => Some(OidcEndpoint::Consent),
            "token" => Some(OidcEndpoint::Token),
            "userinfo" => Some(OidcEndpoint::UserInfo),
            "introspect" => Some(OidcEndpoint::Introspect),
            "revoke" => Some(OidcEndpoint::Revoke),
            "logout" => Some(OidcEndpoint::Logout),
            _ => None,
        }
    }

    /// Endpoints a browser app on another origin may call (CORS, no credentials).
    fn cross_origin(self) -> bool {
        !matches!(
            self,
            OidcEndpoint::Authorize | OidcEndpoint::Consent | OidcEndpoint::Logout
        )
    }
}

impl Provider {
    /// Answers one request to a provider endpoint.
    pub async fn handle(
        &self,
        endpoint: OidcEndpoint,
        request: Request<Incoming>,
        client_ip: IpAddr,
        https: bool,
    ) -> Response<Bytes> {
        if request.method() == Method::OPTIONS && endpoint.cross_origin() {
            return preflight();
        }
        let mut response = self.route(endpoint, request, client_ip, https).await;
        if endpoint.cross_origin() {
            response.headers_mut().insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        response
    }

    async fn route(
        &self,
        endpoint: OidcEndpoint,
        request: Request<Incoming>,
        client_ip: IpAddr,
        https: bool,
    ) -> Response<Bytes> {
        let method = request.method().clone();
        match (endpoint, method) {
            (OidcEndpoint::Discovery, Method::GET | Method::HEAD) => public_json(&self.discovery()),
            (OidcEndpoint::Jwks, Method::GET | Method::HEAD) => {
                public_json(&self.keys.load().jwks())
            }
            (OidcEndpoint::Authorize, Method::GET | Method::POST) => {
                let session = self.session_of(request.headers()).await;
                let (_, params) = match read_params(request).await {
                    Ok(read) => read,
                    Err(response) => return response,
                };
                let outcome = self.authorize(&params, session.as_ref(), client_ip).await;
                self.outcome_response(outcome)
            }
            (OidcEndpoint::Consent, Method::POST) => {
                let session = self.session_of(request.headers()).await;
                let (_, params) = match read_params(request).await {
                    Ok(read) => read,
                    Err(response) => return response,
                };
                let field = |name| params.one(name).ok().flatten().unwrap_or("");
                let outcome = self
                    .consent_decision(
                        field("request"),
                        field("csrf"),
                        field("decision") == "allow",
                        session.as_ref(),
                        client_ip,
                    )
                    .await;
                self.outcome_response(outcome)
            }
            (OidcEndpoint::Token, Method::POST) => {
                let (headers, params) = match read_params(request).await {
                    Ok(read) => read,
                    Err(response) => return response,
                };
                let presented = credentials(&headers, &params);
                match self.token(&params, &presented, client_ip).await {
                    Ok(answer) => no_store_json(StatusCode::OK, &answer),
                    Err(error) => protocol_error(&error),
                }
            }
            (OidcEndpoint::UserInfo, Method::GET | Method::POST) => self.userinfo(request).await,
            (OidcEndpoint::Introspect, Method::POST) => {
                let (headers, params) = match read_params(request).await {
                    Ok(read) => read,
                    Err(response) => return response,
                };
                let presented = credentials(&headers, &params);
                match self.introspect(&params, &presented).await {
                    Ok(answer) => no_store_json(StatusCode::OK, &answer),
                    Err(error) => protocol_error(&error),
                }
            }
            (OidcEndpoint::Revoke, Method::POST) => {
                let (headers, params) = match read_params(request).await {
                    Ok(read) => read,
                    Err(response) => return response,
                };
                let presented = credentials(&headers, &params);
                match self.revoke(&params, &presented, client_ip).await {
                    Ok(()) => no_store_json(StatusCode::OK, &json!({})),
                    Err(error) => protocol_error(&error),
                }
            }
            (OidcEndpoint::Logout, Method::GET | Method::POST) => {
                let session = self.session_of(request.headers()).await;
                let (_, params) = match read_params(request).await {
                    Ok(read) => read,
                    Err(response) => return response,
                };
                let confirm = params.one("confirm").ok().flatten();
                let outcome = self
                    .end_session(&params, session.as_ref(), confirm, client_ip)
                    .await;
                self.logout_response(outcome, https)
            }
            _ => method_not_allowed(),
        }
    }

    /// The browser's single sign-on session, when its cookie names a live one for this host.
    async fn session_of(&self, headers: &HeaderMap) -> Option<Session> {
        let id = self.sessions.session_id_from(headers)?;
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(host_only);
        match self.sessions.get(&id).await {
            Ok(Some(session))
                if session.host.is_none() || session.host.as_deref() == host.as_deref() =>
            {
                Some(session)
            }
            Ok(_) => None,
            Err(error) => {
                tracing::error!(%error, "session store unavailable");
                None
            }
        }
    }

    async fn userinfo(&self, request: Request<Incoming>) -> Response<Bytes> {
        let (headers, params) = match read_params(request).await {
            Ok(read) => read,
            Err(response) => return response,
        };
        let token = bearer_token(&headers).or_else(|| {
            params
                .one("access_token")
                .ok()
                .flatten()
                .map(str::to_string)
        });
        let Some(token) = token else {
            return bearer_challenge(StatusCode::UNAUTHORIZED, None);
        };
        let claims =
            match check_access_token(&self.keys, self.grants(), &self.issuer, &token, None).await {
                Ok(claims) if !claims.is_system() => claims,
                Ok(_) => {
                    return bearer_challenge(
                        StatusCode::FORBIDDEN,
                        Some(("insufficient_scope", "a system token has no user")),
                    )
                }
                Err(BearerError::Provider(error)) => {
                    return protocol_error(&ProtocolError::internal(&error))
                }
                Err(error) => {
                    return bearer_challenge(
                        StatusCode::UNAUTHORIZED,
                        Some(("invalid_token", &error.to_string())),
                    )
                }
            };
        let scopes = super::types::Scopes::parse(&claims.scope);
        if !scopes.contains("openid") {
            return bearer_challenge(
                StatusCode::FORBIDDEN,
                Some((
                    "insufficient_scope",
                    "the token was not granted the openid scope",
                )),
            );
        }
        let identity = claims.identity();
        let roles = self.role_names(&identity);
        let mut answer = with_roles(claims_for(&identity, &scopes), &scopes, roles);
        answer["sub"] = Value::String(claims.sub.clone());
        no_store_json(StatusCode::OK, &answer)
    }

    /// The person's roles under the policies in force (none without `[policy]`).
    fn role_names(&self, identity: &crate::identity::Identity) -> Vec<String> {
        self.authorizer
            .as_ref()
            .map(|a| a.policies.engine().role_names(identity))
            .unwrap_or_default()
    }

    fn outcome_response(&self, outcome: Outcome) -> Response<Bytes> {
        match outcome {
            Outcome::ErrorPage { status, message } => self.message(
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                "Không thể đăng nhập / Sign-in failed",
                &message,
            ),
            Outcome::Redirect(redirect_to) => client_redirect(&redirect_to),
            Outcome::Login { resume, force } => {
                let back = format!("{OIDC_PREFIX}authorize?resume={}", encode(&resume));
                let mut location = format!("{LOGIN_PATH}?rd={}", encode(&back));
                if force {
                    location.push_str("&prompt=login");
                }
                redirect(StatusCode::FOUND, &location)
            }
            Outcome::Consent {
                resume,
                client_name,
                scopes,
                csrf,
            } => self.form_page(render(&ConsentPage {
                branding: &self.branding,
                client_name: &client_name,
                scopes: scope_texts(&scopes),
                action: &format!("{OIDC_PREFIX}consent"),
                resume: &resume,
                csrf: &csrf,
            })),
        }
    }

    /// A page whose form's answer redirects to a client (consent → code, logout →
    /// post-logout URI): its policy lets the submission end there.
    fn form_page(&self, body: String) -> Response<Bytes> {
        let mut response = html(StatusCode::OK, body);
        widen_page_policy(&mut response, &[], &self.form_targets);
        response
    }

    fn logout_response(&self, outcome: LogoutOutcome, https: bool) -> Response<Bytes> {
        match outcome {
            LogoutOutcome::ErrorPage { status, message } => self.message(
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                "Không thể đăng xuất / Logout failed",
                &message,
            ),
            LogoutOutcome::Confirm {
                fields,
                csrf,
                client_name,
            } => self.form_page(render(&LogoutConfirmPage {
                branding: &self.branding,
                action: &format!("{OIDC_PREFIX}logout"),
                fields: &fields,
                csrf: &csrf,
                client_name: client_name.as_deref(),
            })),
            LogoutOutcome::Done {
                redirect: next,
                frontchannel,
                ended,
            } => {
                let mut response = match (&next, frontchannel.is_empty()) {
                    (Some(next), true) => redirect(StatusCode::SEE_OTHER, next),
                    _ => self.logged_out_page(next.as_deref(), &frontchannel),
                };
                if let Some(session) = &ended {
                    response.headers_mut().append(
                        header::SET_COOKIE,
                        self.sessions.clear_cookie_of(session, https),
                    );
                }
                response
            }
        }
    }

    /// "You are logged out", loading the front-channel logout pages in hidden frames.
    pub fn logged_out_page(&self, next: Option<&str>, frames: &[String]) -> Response<Bytes> {
        let mut response = html(
            StatusCode::OK,
            render(&MessagePage {
                branding: &self.branding,
                title: "Đã đăng xuất / Logged out",
                message:
                    "Bạn đã đăng xuất khỏi mọi ứng dụng. / You are logged out of every application.",
                continue_url: next,
                frames,
            }),
        );
        widen_page_policy(&mut response, frames, &self.form_targets);
        response
    }

    fn message(&self, status: StatusCode, title: &str, message: &str) -> Response<Bytes> {
        html(
            status,
            render(&MessagePage {
                branding: &self.branding,
                title,
                message,
                continue_url: None,
                frames: &[],
            }),
        )
    }
}

/// The code or error, to the client: a 302 with query parameters, or a self-submitting form.
fn client_redirect(to: &ClientRedirect) -> Response<Bytes> {
    match to.mode {
        ResponseMode::Query => {
            let separator = if to.redirect_uri.contains('?') {
                '&'
            } else {
                '?'
            };
            let query: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&to.params)
                .finish();
            redirect(
                StatusCode::FOUND,
                &format!("{}{separator}{query}", to.redirect_uri),
            )
        }
        ResponseMode::FormPost => {
            let mut response = html(
                StatusCode::OK,
                render(&FormPostPage {
                    action: &to.redirect_uri,
                    fields: &to.params,
                    script: FORM_POST_SCRIPT,
                }),
            );
            // The page's one script, and posting to the client's origin, are all it may do.
            let target = origin_of(&to.redirect_uri).unwrap_or_else(|| "'none'".into());
            let policy = format!(
                "default-src 'none'; script-src {}; form-action {target}; frame-ancestors 'none'; base-uri 'none'",
                form_post_script_hash()
            );
            if let Ok(value) = HeaderValue::from_str(&policy) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_SECURITY_POLICY, value);
            }
            response
        }
    }
}

/// The parameters of a GET (query) or POST (form body) request, and its headers.
async fn read_params(request: Request<Incoming>) -> Result<(HeaderMap, Params), Response<Bytes>> {
    let (parts, body) = request.into_parts();
    let mut pairs: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    if parts.method == Method::POST {
        match read_form(&parts.headers, body).await {
            // Parameters in the body; for POST the query must not carry them too.
            Ok(form) => pairs = form.into_pairs(),
            Err(error) => {
                return Err(protocol_error(&ProtocolError::invalid_request(
                    error.to_string(),
                )))
            }
        }
    }
    Ok((parts.headers, Params::new(pairs)))
}

/// The client credentials a request carries (header and form).
fn credentials(headers: &HeaderMap, params: &Params) -> PresentedCredentials {
    let field = |name| params.one(name).ok().flatten().map(str::to_string);
    PresentedCredentials {
        basic: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(PresentedCredentials::parse_basic),
        client_id: field("client_id"),
        client_secret: field("client_secret"),
        assertion_type: field("client_assertion_type"),
        assertion: field("client_assertion"),
    }
}

/// The token of `Authorization: Bearer …` (RFC 6750 §2.1).
pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .then(|| token.trim().to_string())
}

/// RFC 6749 §5.2: 401 (with a challenge) for client authentication, 400 otherwise.
fn protocol_error(error: &ProtocolError) -> Response<Bytes> {
    let status = match error.code {
        ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = no_store_json(
        status,
        &json!({"error": error.code.as_str(), "error_description": error.description}),
    );
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"govgate\""),
        );
    }
    response
}

/// RFC 6750 §3: the challenge of a protected resource.
fn bearer_challenge(status: StatusCode, error: Option<(&str, &str)>) -> Response<Bytes> {
    let (body, challenge) = match error {
        Some((code, description)) => (
            json!({"error": code, "error_description": description}),
            format!(
                "Bearer realm=\"govgate\", error=\"{code}\", error_description=\"{}\"",
                description.replace(['"', '\\'], "'")
            ),
        ),
        None => (
            json!({"error": "invalid_request"}),
            "Bearer realm=\"govgate\"".to_string(),
        ),
    };
    let mut response = no_store_json(status, &body);
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn no_store_json(status: StatusCode, value: &Value) -> Response<Bytes> {
    let mut response = json_response(status, value);
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Discovery and keys: the same for everyone, cacheable for a minute (keys rotate slowly).
fn public_json(value: &Value) -> Response<Bytes> {
    let mut response = json_response(StatusCode::OK, value);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}

fn preflight() -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

fn method_not_allowed() -> Response<Bytes> {
    let mut response = json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"error": "invalid_request", "error_description": "method not allowed"}),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    response
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

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_by_path() {
        assert_eq!(
            OidcEndpoint::from_path("/.well-known/openid-configuration"),
            Some(OidcEndpoint::Discovery)
        );
        assert_eq!(
            OidcEndpoint::from_path("/oidc/token"),
            Some(OidcEndpoint::Token)
        );
        assert_eq!(OidcEndpoint::from_path("/oidc/tokens"), None);
        assert_eq!(OidcEndpoint::from_path("/token"), None);
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer_token(&headers).as_deref(), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
    }

    #[test]
    fn origins_of_frames() {
        assert_eq!(
            origin_of("https://mail.tinh.gov.vn:8443/logout?sid=1").as_deref(),
            Some("https://mail.tinh.gov.vn:8443")
        );
        assert_eq!(origin_of("nonsense"), None);
    }
}
