//! The authorization endpoint (RFC 6749 §4.1, OIDC Core §3.1.2), free of HTTP: a request
//! in, an [`Outcome`] out — an error page, a redirect back to the client, a detour through
//! the login page, or the consent page.
//!
//! Errors are sent back to the client only once the client and its redirect URI are known
//! to belong together; before that they are shown on a page (RFC 6749 §4.1.2.1), so the
//! endpoint can never be used as an open redirector.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::clients::Client;
use super::grants::{CodeRecord, Grant, Grants};
use super::types::{
    is_s256_challenge, now_unix, sha256_b64, ClientId, CodeChallenge, ErrorCode, Nonce,
    ProtocolError, RedirectUri, Scopes, Sid, State,
};
use super::{OidcError, Provider};
use crate::config::GrantType;
use crate::policy::Target;
use crate::proxy::admit::RouteRequest;
use crate::session::Session;

/// How long a request waits for the user to log in or consent.
const PENDING_TTL: Duration = Duration::from_secs(30 * 60);

/// Request parameters, with repeated names detected (RFC 6749 §3.1: each at most once).
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    /// The value of `name`; an error when it is repeated. Empty values count as absent.
    pub fn one(&self, name: &str) -> Result<Option<&str>, ProtocolError> {
        let mut values = self
            .pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(ProtocolError::invalid_request(format!(
                "parameter {name} is repeated"
            )));
        }
        Ok(first.filter(|v| !v.is_empty()))
    }
}

/// How the answer reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseMode {
    Query,
    FormPost,
}

/// A validated authorization request, kept while the user logs in or consents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: ClientId,
    pub redirect_uri: RedirectUri,
    pub response_mode: ResponseMode,
    pub scopes: Scopes,
    pub state: Option<State>,
    pub nonce: Option<Nonce>,
    pub code_challenge: Option<CodeChallenge>,
    pub prompt_none: bool,
    pub prompt_consent: bool,
    pub max_age: Option<u64>,
    /// Only a login at or after this time counts (`prompt=login`, an exceeded `max_age`).
    pub login_after: Option<u64>,
}

/// A redirect back to the client with parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRedirect {
    pub redirect_uri: String,
    pub mode: ResponseMode,
    pub params: Vec<(String, String)>,
}

/// What the endpoint answers.
#[derive(Debug)]
pub enum Outcome {
    /// Shown to the user; nothing goes to the (unverified) redirect URI.
    ErrorPage { status: u16, message: String },
    /// Back to the client: a code, or an error.
    Redirect(ClientRedirect),
    /// To the login page; it returns to `/oidc/authorize?resume=<id>`.
    Login { resume: String, force: bool },
    /// The consent page for a third-party client.
    Consent {
        resume: String,
        client_name: String,
        scopes: Scopes,
        csrf: String,
    },
}

impl Provider {
    /// Handles a fresh authorization request.
    pub async fn authorize(
        &self,
        params: &Params,
        session: Option<&Session>,
        client_ip: IpAddr,
    ) -> Outcome {
        if let Ok(Some(resume)) = params.one("resume") {
            return self.resume(resume, session, client_ip).await;
        }
        let request = match self.parse_request(params) {
            Ok(request) => request,
            Err(outcome) => return *outcome,
        };
        self.proceed(request, None, session, client_ip).await
    }

    /// Continues a request after login (the login page sends the browser back here).
    async fn resume(&self, id: &str, session: Option<&Session>, client_ip: IpAddr) -> Outcome {
        match self.grants().get_pending::<AuthorizeRequest>(id).await {
            Ok(Some(request)) => self.proceed(request, Some(id), session, client_ip).await,
            Ok(None) => error_page(
                400,
                "Yêu cầu đăng nhập đã hết hạn; hãy quay lại ứng dụng và thử lại. / The sign-in request expired; go back to the application and try again.",
            ),
            Err(error) => unavailable(&error),
        }
    }

    /// The consent form's answer.
    pub async fn consent_decision(
        &self,
        resume: &str,
        csrf: &str,
        allow: bool,
        session: Option<&Session>,
        client_ip: IpAddr,
    ) -> Outcome {
        let Some(session) = session else {
            return error_page(400, "Phiên đăng nhập đã kết thúc. / Your session ended.");
        };
        if !super::pages::consent_token_matches(session, resume, csrf) {
            return error_page(400, "Biểu mẫu không hợp lệ. / Invalid form.");
        }
        let request = match self.grants().get_pending::<AuthorizeRequest>(resume).await {
            Ok(Some(request)) => request,
            Ok(None) => return error_page(400, "Yêu cầu đã hết hạn. / The request expired."),
            Err(error) => return unavailable(&error),
        };
        let _ = self.grants().drop_pending(resume).await;
        if !allow {
            return to_client(
                &request,
                ProtocolError::new(ErrorCode::AccessDenied, "the user declined"),
                &self.issuer,
            );
        }
        let saved = self
            .grants()
            .save_consent(
                &session.identity.username,
                request.client_id.as_str(),
                &request.scopes,
            )
            .await;
        if let Err(error) = saved {
            return unavailable(&error);
        }
        self.issue_code(&request, session, client_ip).await
    }

    /// Checks the request; errors before the redirect URI is trusted become error pages.
    fn parse_request(&self, params: &Params) -> Result<AuthorizeRequest, Box<Outcome>> {
        let page = |message: String| Box::new(error_page(400, &message));
        let client_id = params
            .one("client_id")
            .map_err(|e| page(e.description))?
            .ok_or_else(|| page("Thiếu client_id. / client_id is missing.".into()))?;
        let client = self.clients.get(client_id).ok_or_else(|| {
            page(format!(
                "Ứng dụng {client_id:?} chưa được đăng ký. / Unknown client {client_id:?}."
            ))
        })?;
        let redirect_uri = params
            .one("redirect_uri")
            .map_err(|e| page(e.description))?
            .ok_or_else(|| page("Thiếu redirect_uri. / redirect_uri is missing.".into()))?;
        if !client.redirect_uri_allowed(redirect_uri) {
            return Err(page(
                "Địa chỉ chuyển hướng (redirect_uri) không khớp với đăng ký của ứng dụng. / The redirect_uri is not registered for this client.".into(),
            ));
        }
        // From here on the client and its redirect URI are known: errors go back to it.
        let mode = match params.one("response_mode") {
            Ok(None) | Ok(Some("query")) => ResponseMode::Query,
            Ok(Some("form_post")) => ResponseMode::FormPost,
            _ => ResponseMode::Query,
        };
        let mut request = AuthorizeRequest {
            client_id: client.id.clone(),
            redirect_uri: RedirectUri::new(redirect_uri),
            response_mode: mode,
            scopes: Scopes::default(),
            state: params.one("state").ok().flatten().map(State::new),
            nonce: None,
            code_challenge: None,
            prompt_none: false,
            prompt_consent: false,
            max_age: None,
            login_after: None,
        };
        let fail = |request: &AuthorizeRequest, error: ProtocolError| {
            Box::new(to_client(request, error, &self.issuer))
        };
        check_request(client, params, &mut request).map_err(|e| fail(&request, e))?;
        Ok(request)
    }

    /// Login, then policy, then consent, then the code.
    async fn proceed(
        &self,
        mut request: AuthorizeRequest,
        pending: Option<&str>,
        session: Option<&Session>,
        client_ip: IpAddr,
    ) -> Outcome {
        let now = now_unix();
        let fresh_enough = |session: &Session| match (request.login_after, request.max_age) {
            (Some(after), _) => session.auth_time >= after,
            (None, Some(max_age)) => now.saturating_sub(session.auth_time) <= max_age,
            (None, None) => true,
        };
        let session = match session {
            Some(session) if fresh_enough(session) => session,
            other => {
                if request.prompt_none {
                    return self
                        .finish_with_error(
                            &request,
                            pending,
                            ErrorCode::LoginRequired,
                            "the user must log in",
                        )
                        .await;
                }
                let force = other.is_some();
                if force && request.login_after.is_none() {
                    request.login_after = Some(now);
                }
                return self
                    .detour(&request, pending, |resume| Outcome::Login { resume, force })
                    .await;
            }
        };
        let Some(client) = self.clients.get(request.client_id.as_str()) else {
            return error_page(
                400,
                "Ứng dụng không còn được đăng ký. / The client is no longer registered.",
            );
        };
        if !self.may_sign_in(client, session, client_ip).await {
            return self
                .finish_with_error(
                    &request,
                    pending,
                    ErrorCode::AccessDenied,
                    "the access policies do not allow this user to sign in to this application",
                )
                .await;
        }
        if !client.first_party {
            let known = match self
                .grants()
                .consented_scopes(&session.identity.username, client.id.as_str())
                .await
            {
                Ok(known) => known,
                Err(error) => return unavailable(&error),
            };
            let consented = known.is_some_and(|k| request.scopes.is_subset_of(&k));
            if request.prompt_consent || !consented {
                if request.prompt_none {
                    return self
                        .finish_with_error(
                            &request,
                            pending,
                            ErrorCode::ConsentRequired,
                            "the user has not consented",
                        )
                        .await;
                }
                request.prompt_consent = false;
                let name = client.name.clone();
                let scopes = request.scopes.clone();
                return self
                    .detour(&request, pending, |resume| Outcome::Consent {
                        csrf: super::pages::consent_token(session, &resume),
                        resume,
                        client_name: name,
                        scopes,
                    })
                    .await;
            }
        }
        if let Some(id) = pending {
            let _ = self.grants().drop_pending(id).await;
        }
        self.issue_code(&request, session, client_ip).await
    }

    /// Keeps the request (under its existing id when resuming) and answers `make(id)`.
    async fn detour(
        &self,
        request: &AuthorizeRequest,
        pending: Option<&str>,
        make: impl FnOnce(String) -> Outcome,
    ) -> Outcome {
        if let Some(id) = pending {
            let _ = self.grants().drop_pending(id).await;
        }
        match self.grants().put_pending(request, PENDING_TTL).await {
            Ok(id) => make(id),
            Err(error) => unavailable(&error),
        }
    }

    async fn finish_with_error(
        &self,
        request: &AuthorizeRequest,
        pending: Option<&str>,
        code: ErrorCode,
        description: &str,
    ) -> Outcome {
        if let Some(id) = pending {
            let _ = self.grants().drop_pending(id).await;
        }
        to_client(request, ProtocolError::new(code, description), &self.issuer)
    }

    /// The access policies' `signin` decision (everyone, without `[policy]`); denials audited.
    async fn may_sign_in(&self, client: &Client, session: &Session, client_ip: IpAddr) -> bool {
        let Some(authorizer) = &self.authorizer else {
            return true;
        };
        let request = RouteRequest {
            app: &client.app,
            method: "GET",
            path: "/oidc/authorize",
            client_ip,
            signed: false,
            worker: 0,
        };
        let decision = authorizer.decide(session, Target::SignIn { app: &client.app }, &request);
        if !decision.allowed {
            let request_id = crate::proxy::request_id::new_request_id();
            authorizer
                .record_denial(
                    session,
                    &decision,
                    &request,
                    request_id.to_str().unwrap_or("-"),
                )
                .await;
        }
        decision.allowed
    }

    /// Stores the code and sends the browser back to the client with it.
    async fn issue_code(
        &self,
        request: &AuthorizeRequest,
        session: &Session,
        client_ip: IpAddr,
    ) -> Outcome {
        let _ = client_ip;
        let Some(client) = self.clients.get(request.client_id.as_str()) else {
            return error_page(
                400,
                "Ứng dụng không còn được đăng ký. / The client is no longer registered.",
            );
        };
        match self.new_code(client, request, session).await {
            Ok(code) => {
                let mut params = vec![("code".to_string(), code)];
                if let Some(state) = &request.state {
                    params.push(("state".into(), state.as_str().to_string()));
                }
                // RFC 9207: lets the client tell which provider answered (mix-up defence).
                params.push(("iss".into(), self.issuer.clone()));
                Outcome::Redirect(ClientRedirect {
                    redirect_uri: request.redirect_uri.as_str().to_string(),
                    mode: request.response_mode,
                    params,
                })
            }
            Err(error) => to_client(request, ProtocolError::internal(&error), &self.issuer),
        }
    }

    async fn new_code(
        &self,
        client: &Client,
        request: &AuthorizeRequest,
        session: &Session,
    ) -> Result<String, OidcError> {
        let offline = request.scopes.contains("offline_access")
            && client.allows_grant(GrantType::RefreshToken);
        let grant = Grant {
            id: Grants::new_grant_id()?,
            client_id: client.id.as_str().to_string(),
            identity: session.identity.clone(),
            strength: session.strength,
            auth_time: session.auth_time,
            scopes: request.scopes.clone(),
            sid: sid_of(session),
            offline,
        };
        let record = CodeRecord {
            grant,
            redirect_uri: request.redirect_uri.as_str().to_string(),
            code_challenge: request.code_challenge.clone(),
            nonce: request.nonce.clone(),
        };
        // Logout must reach this client even if it never redeems the code.
        let ttl = self.sessions.settings().absolute_lifetime;
        self.grants()
            .remember_client(&record.grant.sid, &record.grant, ttl)
            .await?;
        self.grants().issue_code(&record, self.lifetimes.code).await
    }
}

/// Everything checked once the redirect URI is trusted (errors go back to the client).
fn check_request(
    client: &Client,
    params: &Params,
    request: &mut AuthorizeRequest,
) -> Result<(), ProtocolError> {
    match params.one("response_mode")? {
        None | Some("query") | Some("form_post") => {}
        Some(other) => {
            return Err(ProtocolError::invalid_request(format!(
                "response_mode {other:?} is not supported (query or form_post)"
            )))
        }
    }
    match params.one("response_type")? {
        Some("code") => {}
        Some(_) => {
            return Err(ProtocolError::new(
                ErrorCode::UnsupportedResponseType,
                "only the authorization code flow (response_type=code) is supported; implicit and hybrid flows are refused",
            ))
        }
        None => return Err(ProtocolError::invalid_request("response_type is missing")),
    }
    if params.one("request")?.is_some() || params.one("request_uri")?.is_some() {
        return Err(ProtocolError::new(
            ErrorCode::InvalidRequest,
            "request objects are not supported",
        ));
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(ProtocolError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code grant",
        ));
    }
    request.scopes = Scopes::parse(params.one("scope")?.unwrap_or(""));
    if !request.scopes.is_subset_of(&client.scopes) {
        return Err(ProtocolError::new(
            ErrorCode::InvalidScope,
            "a requested scope is not allowed for this client",
        ));
    }
    request.nonce = params.one("nonce")?.map(Nonce::new);
    check_pkce(client, params, request)?;
    check_prompt(params, request)?;
    if let Some(max_age) = params.one("max_age")? {
        let max_age: u64 = max_age
            .parse()
            .map_err(|_| ProtocolError::invalid_request("max_age must be a number of seconds"))?;
        request.max_age = Some(max_age);
    }
    Ok(())
}

/// RFC 7636 with S256 only (plain offers no protection against a stolen code).
fn check_pkce(
    client: &Client,
    params: &Params,
    request: &mut AuthorizeRequest,
) -> Result<(), ProtocolError> {
    let challenge = params.one("code_challenge")?;
    match (challenge, params.one("code_challenge_method")?) {
        (Some(challenge), Some("S256")) => {
            if !is_s256_challenge(challenge) {
                return Err(ProtocolError::invalid_request(
                    "code_challenge must be base64url(SHA-256(verifier)), 43 characters",
                ));
            }
            request.code_challenge = Some(CodeChallenge::new(challenge));
        }
        (Some(_), None) | (Some(_), Some("plain")) => {
            return Err(ProtocolError::invalid_request(
                "code_challenge_method must be S256 (plain is refused)",
            ))
        }
        (Some(_), Some(other)) => {
            return Err(ProtocolError::invalid_request(format!(
                "code_challenge_method {other:?} is not supported; use S256"
            )))
        }
        (None, Some(_)) => {
            return Err(ProtocolError::invalid_request(
                "code_challenge_method without code_challenge",
            ))
        }
        (None, None) if client.require_pkce => {
            return Err(ProtocolError::invalid_request(
                "PKCE is required: send code_challenge and code_challenge_method=S256",
            ))
        }
        (None, None) => {}
    }
    Ok(())
}

fn check_prompt(params: &Params, request: &mut AuthorizeRequest) -> Result<(), ProtocolError> {
    let Some(prompt) = params.one("prompt")? else {
        return Ok(());
    };
    let values: Vec<&str> = prompt.split(' ').filter(|v| !v.is_empty()).collect();
    if values.contains(&"none") && values.len() > 1 {
        return Err(ProtocolError::invalid_request(
            "prompt=none cannot be combined with other values",
        ));
    }
    for value in values {
        match value {
            "none" => request.prompt_none = true,
            "login" => request.login_after = Some(now_unix()),
            "consent" => request.prompt_consent = true,
            // One account per browser: there is nothing to select.
            "select_account" => {}
            other => {
                return Err(ProtocolError::invalid_request(format!(
                    "prompt value {other:?} is not supported"
                )))
            }
        }
    }
    Ok(())
}

/// The `sid` clients see for a session: derived from, but not revealing, the session id.
pub fn sid_of(session: &Session) -> Sid {
    let digest = sha256_b64(format!("govgate-sid:{}", session.id.as_str()).as_bytes());
    Sid::new(&digest[..22])
}

/// An error sent back to the client's (verified) redirect URI.
fn to_client(request: &AuthorizeRequest, error: ProtocolError, issuer: &str) -> Outcome {
    let mut params = vec![
        ("error".to_string(), error.code.as_str().to_string()),
        ("error_description".to_string(), error.description),
    ];
    if let Some(state) = &request.state {
        params.push(("state".into(), state.as_str().to_string()));
    }
    params.push(("iss".into(), issuer.to_string()));
    Outcome::Redirect(ClientRedirect {
        redirect_uri: request.redirect_uri.as_str().to_string(),
        mode: request.response_mode,
        params,
    })
}

fn error_page(status: u16, message: &str) -> Outcome {
    Outcome::ErrorPage {
        status,
        message: message.to_string(),
    }
}

fn unavailable(error: &OidcError) -> Outcome {
    tracing::error!(%error, "authorization request failed");
    error_page(
        503,
        "Dịch vụ đăng nhập tạm thời gián đoạn; hãy thử lại sau ít phút. / The sign-in service is temporarily unavailable; try again in a few minutes.",
    )
}
