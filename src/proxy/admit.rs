//! The admit phase for apps that require login: find the session, or send the user to log in.
//!
//! A browser without a session is redirected to the login page (or, for an app host outside
//! the shared cookie domain, through the portal's single sign-on hand-off); an API client
//! gets `401` JSON; a store outage gives `503` rather than letting anyone through.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use super::body::ResponseBody;
use crate::audit::{AuditEvent, AuditLog};
use crate::identity::headers::IdentityHeaderNames;
use crate::identity::{AuthStrength, Identity};
use crate::keys::AssertionCache;
use crate::metrics::PolicyMetrics;
use crate::policy::{AccessRequest, Decision, PolicyStore, SampledRequest, Target};
use crate::session::{Session, SessionService};

/// Reserved path prefix the gateway answers on every host (login hand-off, logout, JWKS).
pub const RESERVED_PREFIX: &str = "/.govgate/";

/// Everything the proxy needs to admit logged-in users to an app.
pub struct Gatekeeper {
    pub sessions: Arc<SessionService>,
    pub assertions: Arc<AssertionCache>,
    pub headers: IdentityHeaderNames,
    /// The portal's own address (`https://sso.namdinh.gov.vn`), when configured.
    pub portal_url: Option<String>,
    /// `session.cookie_domain` without its leading dot, when configured.
    pub cookie_domain: Option<String>,
    /// The access policies, when `[policy]` is configured: every request of a logged-in user
    /// to an app is decided by them.
    pub authorizer: Option<Authorizer>,
    /// Checks gateway access tokens for apps with `accept_bearer` (the OIDC provider).
    pub bearer: Option<Arc<dyn BearerAuthority>>,
}

/// Who sent an admitted request to an app.
pub enum Admitted {
    /// A browser with a single sign-on session.
    Session(Session),
    /// A gateway access token.
    Bearer(BearerCaller),
}

impl Admitted {
    pub fn identity(&self) -> &Identity {
        match self {
            Admitted::Session(session) => &session.identity,
            Admitted::Bearer(caller) => &caller.identity,
        }
    }

    /// What the assertion cache keys on: the session, or the token.
    pub fn cache_key(&self) -> &str {
        match self {
            Admitted::Session(session) => session.id.as_str(),
            Admitted::Bearer(caller) => &caller.token_id,
        }
    }

    pub fn principal(&self) -> Principal<'_> {
        match self {
            Admitted::Session(session) => Principal::Person {
                identity: &session.identity,
                strength: session.strength,
            },
            Admitted::Bearer(caller) => match &caller.system_roles {
                Some(roles) => Principal::System {
                    client_id: &caller.identity.username,
                    name: &caller.identity.username,
                    roles,
                },
                None => Principal::Person {
                    identity: &caller.identity,
                    strength: caller.strength,
                },
            },
        }
    }
}

/// The caller an access token speaks for.
#[derive(Debug, Clone)]
pub struct BearerCaller {
    /// The token's `jti`.
    pub token_id: String,
    /// The person (or, for a system token, the client id as user name).
    pub identity: Identity,
    pub strength: AuthStrength,
    /// `Some(roles)` for a system client's token (client_credentials).
    pub system_roles: Option<Vec<String>>,
}

/// Checks an access token presented to an app; the error is what the `WWW-Authenticate`
/// challenge says (`invalid_token` with a description), or `None` when the check itself
/// could not be made (store down: 503).
#[async_trait::async_trait]
pub trait BearerAuthority: Send + Sync {
    async fn check(&self, token: &str, app_id: &str) -> Result<BearerCaller, Option<String>>;
}

/// Decides requests of logged-in users by the access policies, and records the refusals.
#[derive(Clone)]
pub struct Authorizer {
    pub policies: Arc<PolicyStore>,
    pub audit: AuditLog,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// A request about to be decided: what the proxy knows of it.
pub struct RouteRequest<'a> {
    pub app: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub client_ip: IpAddr,
    /// `true` when the gateway verified a signature the request carried.
    pub signed: bool,
    /// The worker thread deciding (metrics shard); 0 outside the proxy.
    pub worker: usize,
}

/// Who a decision is about.
#[derive(Clone, Copy)]
pub enum Principal<'a> {
    /// A logged-in person (by session, or by an access token issued for them).
    Person {
        identity: &'a Identity,
        strength: AuthStrength,
    },
    /// A system client acting for itself (client_credentials).
    System {
        client_id: &'a str,
        name: &'a str,
        roles: &'a [String],
    },
}

impl Principal<'_> {
    /// The name audit records carry.
    pub fn name(&self) -> &str {
        match self {
            Principal::Person { identity, .. } => &identity.username,
            Principal::System { client_id, .. } => client_id,
        }
    }
}

impl Authorizer {
    /// The decision for `session`'s user on `request` (cached per class of request).
    pub fn decide(
        &self,
        session: &Session,
        target: Target<'_>,
        request: &RouteRequest<'_>,
    ) -> Arc<Decision> {
        let principal = Principal::Person {
            identity: &session.identity,
            strength: session.strength,
        };
        self.decide_for(principal, target, request)
    }

    /// The decision for any principal.
    pub fn decide_for(
        &self,
        principal: Principal<'_>,
        target: Target<'_>,
        request: &RouteRequest<'_>,
    ) -> Arc<Decision> {
        let engine = self.policies.engine();
        let (subject, strength) = match principal {
            Principal::Person { identity, strength } => (engine.subject(identity), strength),
            Principal::System {
                client_id,
                name,
                roles,
            } => (
                engine.client_subject(client_id, name, roles),
                AuthStrength::Password,
            ),
        };
        let access = AccessRequest {
            subject,
            target,
            method: request.method,
            path: request.path,
            ip: request.client_ip,
            strength,
            time: crate::policy::clock::now_unix(),
            signed: request.signed,
        };
        let (decision, miss) = engine.decide(&access);
        self.policy_metrics()
            .record_decision(request.worker, decision.allowed, miss);
        // Impact previews replay people's requests; system requests are not sampled.
        if let (true, Principal::Person { identity, .. }) = (miss, principal) {
            self.policies
                .sample(SampledRequest::new(identity, &access, &decision));
        }
        decision
    }

    /// Writes the refusal to the audit log (who, what, which rule), before the 403 is sent.
    pub async fn record_denial(
        &self,
        session: &Session,
        decision: &Decision,
        request: &RouteRequest<'_>,
        request_id: &str,
    ) {
        self.record_denial_of(&session.identity.username, decision, request, request_id)
            .await
    }

    /// [`Self::record_denial`] for any principal, by name.
    pub async fn record_denial_of(
        &self,
        username: &str,
        decision: &Decision,
        request: &RouteRequest<'_>,
        request_id: &str,
    ) {
        let event = AuditEvent::AccessDenied {
            username: username.to_string(),
            client_ip: Some(request.client_ip),
            action: decision.action.to_string(),
            resource: decision.resource.clone(),
            method: request.method.to_string(),
            path: request.path.to_string(),
            reason: decision.reason(),
            request_id: request_id.to_string(),
        };
        if let Err(error) = self.audit.record(event).await {
            tracing::error!(%error, "audit record of an access denial not written");
        }
    }

    fn policy_metrics(&self) -> &PolicyMetrics {
        &self.metrics.policy
    }
}

/// What the admit phase decided for a request to an app that requires login.
pub enum Admission {
    Admitted(Session),
    /// A ready response (redirect to login, 401, 503).
    Refused(Response<ResponseBody>),
}

impl Gatekeeper {
    /// Looks up the session the request carries.
    pub async fn admit(
        &self,
        headers: &HeaderMap,
        host: &str,
        original_url: &str,
        https: bool,
    ) -> Admission {
        let session = match self.sessions.session_id_from(headers) {
            Some(id) => self.sessions.get(&id).await,
            None => Ok(None),
        };
        match session {
            // A session made for another app host (SSO hand-off) is not valid here.
            Ok(Some(session)) if session.host.as_deref().is_none_or(|h| h == host) => {
                Admission::Admitted(session)
            }
            Ok(_) => Admission::Refused(self.login_required(headers, host, original_url, https)),
            Err(error) => {
                tracing::error!(%error, "session store unavailable; refusing instead of guessing");
                Admission::Refused(plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "application/json",
                    r#"{"error":"session_store_unavailable"}"#,
                ))
            }
        }
    }

    /// Admits a request carrying `Authorization: Bearer` to an app that accepts tokens.
    pub async fn admit_bearer(
        &self,
        token: &str,
        app_id: &str,
    ) -> Result<BearerCaller, Response<ResponseBody>> {
        let Some(bearer) = &self.bearer else {
            return Err(bearer_refusal(Some("this gateway issues no access tokens")));
        };
        bearer.check(token, app_id).await.map_err(|why| match why {
            Some(why) => bearer_refusal(Some(&why)),
            None => plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "application/json",
                r#"{"error":"temporarily_unavailable"}"#,
            ),
        })
    }

    /// The signed assertion for `app_id`, reused per session (or token) while it is fresh.
    pub fn assertion(&self, caller: &Admitted, app_id: &str) -> Option<HeaderValue> {
        match self
            .assertions
            .assertion(caller.cache_key(), app_id, caller.identity())
        {
            Ok(value) => Some(value),
            Err(error) => {
                tracing::error!(%error, app = app_id, "cannot sign the identity assertion");
                None
            }
        }
    }

    fn login_required(
        &self,
        headers: &HeaderMap,
        host: &str,
        original_url: &str,
        https: bool,
    ) -> Response<ResponseBody> {
        if crate::pages::is_api_request(headers) {
            let mut response = plain(
                StatusCode::UNAUTHORIZED,
                "application/json",
                r#"{"error":"login_required"}"#,
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Cookie realm=\"govgate\""),
            );
            return response;
        }
        let location = self.login_url(host, original_url, https);
        let mut response = plain(StatusCode::FOUND, "text/plain; charset=utf-8", "");
        if let Ok(value) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        response
    }

    /// Where to log in (see [`login_url`]).
    pub fn login_url(&self, host: &str, original_url: &str, https: bool) -> String {
        let _ = https;
        login_url(
            self.portal_url.as_deref(),
            self.cookie_domain.as_deref(),
            host,
            original_url,
        )
    }
}

/// Where a browser without a session logs in: on this host when no portal address is
/// configured; on the portal when `host` shares the session cookie with it (the portal's
/// host, or under `cookie_domain`, given without its leading dot); else through the portal's
/// hand-off, which comes back to `host` with a single-use code.
pub fn login_url(
    portal_url: Option<&str>,
    cookie_domain: Option<&str>,
    host: &str,
    original_url: &str,
) -> String {
    let rd = encode_component(original_url);
    let Some(portal) = portal_url else {
        return format!("{RESERVED_PREFIX}login?rd={rd}");
    };
    let portal_host = portal
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split([':', '/'])
        .next()
        .unwrap_or("");
    let shares_cookie = host == portal_host
        || cookie_domain.is_some_and(|d| host == d || host.ends_with(&format!(".{d}")));
    if shares_cookie {
        format!("{portal}{RESERVED_PREFIX}login?rd={rd}")
    } else {
        format!("{portal}{RESERVED_PREFIX}sso/start?rd={rd}")
    }
}

/// RFC 6750 §3.1: 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
fn bearer_refusal(why: Option<&str>) -> Response<ResponseBody> {
    let mut response = plain(
        StatusCode::UNAUTHORIZED,
        "application/json",
        r#"{"error":"invalid_token"}"#,
    );
    let description = why.unwrap_or("").replace(['"', '\\'], "'");
    let challenge = format!(
        "Bearer realm=\"govgate\", error=\"invalid_token\", error_description=\"{description}\""
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn plain(
    status: StatusCode,
    content_type: &'static str,
    body: &'static str,
) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Percent-encodes a URL for use as a query parameter value.
pub fn encode_component(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
