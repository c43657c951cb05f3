//! Reverse proxy: app registry, routing, header hygiene, upstream pool, identity propagation.
//!
//! The request pipeline, in the order a request meets it (see [`Proxy::handle`]):
//! 1. **route** — Host and longest path prefix pick the app (unknown → 404 page);
//! 2. **admit** — declared body size against the app's limit (→ 413);
//!    (authentication, authorization and rate limiting slot in here in later work);
//! 3. **rewrite request head** — hop-by-hop and spoofed identity headers out, forwarding
//!    headers and request id in, path prefix stripped, origin-form URI;
//! 4. **forward** — pick an upstream, reuse or open a connection, retry unsent idempotent
//!    requests elsewhere, bounded by connect and response-head timeouts;
//! 5. **filter response** — hop-by-hop out, request id and HSTS in, WebSocket splice;
//! 6. **account** — metrics and one access-log line.

pub mod admit;
pub mod body;
mod forward;
pub mod headers;

pub mod pool;
pub mod request_id;
pub mod routing;
mod signed;
pub mod table;
pub mod upstream;
pub mod websocket;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;

use self::admit::{Admission, Admitted, Gatekeeper, RouteRequest};
use self::body::{RequestBody, ResponseBody};
use self::forward::{BodyFailure, ForwardError, Forwarded};
use self::headers::{Forwarding, IdentityNamespace, TrustedProxies, X_REQUEST_ID};
use self::pool::WorkerPool;
use self::routing::{normalise_host, RouteMatch};
use self::table::{App, ProxyTable};
use crate::config::{Access, Config};
use crate::identity::headers::IdentityHeaderNames;
use crate::identity::Identity;
use crate::metrics::{AppMetrics, Metrics, UNROUTED_APP};
use crate::pages::{render_error, Branding, ErrorPage};
use crate::signatures::SignatureService;

/// Request-independent settings of the proxy, from `[server]` and `[log]`.
pub struct ProxySettings {
    pub identity: IdentityNamespace,
    pub trusted: TrustedProxies,
    pub body_read_timeout: Duration,
    /// `Strict-Transport-Security` value for HTTPS responses.
    pub hsts: Option<HeaderValue>,
    pub access_log: bool,
    pub branding: Branding,
}

impl ProxySettings {
    pub fn from_config(config: &Config) -> Self {
        let server = &config.server;
        Self {
            identity: IdentityNamespace::with_names(
                &server.identity_header_prefixes,
                config
                    .identity_headers
                    .names()
                    .into_iter()
                    .map(|(_, name)| name),
            ),
            trusted: TrustedProxies::new(&server.trusted_proxies),
            body_read_timeout: server.body_read_timeout.get(),
            hsts: server.hsts.as_ref().and_then(|h| {
                let mut value = format!("max-age={}", h.max_age.get().as_secs());
                if h.include_subdomains {
                    value.push_str("; includeSubDomains");
                }
                if h.preload {
                    value.push_str("; preload");
                }
                HeaderValue::from_str(&value).ok()
            }),
            access_log: config.log.access_log,
            branding: Branding {
                site_name: "govgate".into(),
                logo_url: None,
            },
        }
    }
}

/// Everything a request needs, swapped whole on configuration reload.
pub struct ProxyState {
    pub table: ProxyTable,
    pub settings: ProxySettings,
}

/// What the server knows about the connection a request arrived on.
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub https: bool,
    /// Index of the worker thread (metrics shard).
    pub worker: usize,
    /// That worker's upstream connections.
    pub pool: Arc<WorkerPool>,
}

/// The reverse proxy shared by every worker.
pub struct Proxy {
    state: ArcSwap<ProxyState>,
    unrouted: Arc<AppMetrics>,
    /// Admits logged-in users to apps that require login; `None` refuses them with 503.
    gatekeeper: Option<Arc<Gatekeeper>>,
    /// Answers requests no app claims (the portal), instead of a plain 404.
    fallback: Option<Arc<dyn Fallback>>,
    /// Verifies the bodies of requests to apps with a signature guard; `None` (no
    /// `[signatures]`) refuses those requests with 503.
    signatures: Option<Arc<SignatureService>>,
}

/// Answers a request that matched no app (the login portal's pages); `Err` hands the request
/// back for the 404 page.
#[async_trait::async_trait]
pub trait Fallback: Send + Sync + 'static {
    async fn answer(
        &self,
        request: Request<Incoming>,
        conn: &ConnInfo,
    ) -> Result<Response<ResponseBody>, Request<Incoming>>;
}

impl Proxy {
    pub fn new(state: ProxyState, metrics: &Metrics) -> Self {
        Self {
            state: ArcSwap::from_pointee(state),
            unrouted: metrics.app(UNROUTED_APP),
            gatekeeper: None,
            fallback: None,
            signatures: None,
        }
    }

    /// Enables the apps' signature guards.
    pub fn with_signatures(mut self, signatures: Arc<SignatureService>) -> Self {
        self.signatures = Some(signatures);
        self
    }

    /// Enables login for apps with `access = "authenticated"`, and the portal for unrouted paths.
    pub fn with_login(mut self, gatekeeper: Arc<Gatekeeper>, fallback: Arc<dyn Fallback>) -> Self {
        self.gatekeeper = Some(gatekeeper);
        self.fallback = Some(fallback);
        self
    }

    /// Installs a new app registry and settings; requests in flight finish on the old ones.
    pub fn replace(&self, state: ProxyState) {
        self.state.store(Arc::new(state));
    }

    pub fn state(&self) -> Arc<ProxyState> {
        self.state.load_full()
    }

    /// Runs one request through the pipeline. Never fails: every problem becomes a response.
    pub async fn handle(
        &self,
        request: Request<Incoming>,
        conn: &ConnInfo,
    ) -> Response<ResponseBody> {
        let started = Instant::now();
        let state = self.state.load_full();
        let settings = &state.settings;
        let request_id = request_id(&request, conn, settings);
        let method = request.method().clone();
        let client_ip = settings
            .trusted
            .client_ip(conn.peer.ip(), request.headers());
        let log_path = settings
            .access_log
            .then(|| request.uri().path().to_string());
        let account = Account {
            settings,
            request_id: &request_id,
            method: &method,
            path: log_path.as_deref(),
            client_ip,
            started,
            worker: conn.worker,
        };

        // 1. route
        let client_host = client_host(&request);
        let host = client_host
            .as_ref()
            .and_then(|h| h.to_str().ok())
            .map(normalise_host)
            .unwrap_or_default();
        // Upstreams resolve dot segments: `/app/../other` must not be routed as if under `/app`.
        let refused =
            routing::has_dot_segment(request.uri().path()).then_some(ErrorPage::BadRequest);
        let found = if refused.is_some() {
            None
        } else {
            state.table.routing.find(&host, request.uri().path())
        };
        let Some(route) = found else {
            let request = match (&self.fallback, refused) {
                (Some(fallback), None) => match fallback.answer(request, conn).await {
                    Ok(mut response) => {
                        add_gateway_headers(
                            response.headers_mut(),
                            settings,
                            &request_id,
                            conn.https,
                        );
                        account.record(&self.unrouted, response.status());
                        return response;
                    }
                    Err(request) => request,
                },
                _ => request,
            };
            let response = error_page(
                settings,
                refused.unwrap_or(ErrorPage::NotFound),
                &request_id,
                request.headers().get(header::ACCEPT),
                conn.https,
            );
            account.record(&self.unrouted, response.status());
            return response;
        };
        let app = &state.table.apps[route.app];
        let accept = request.headers().get(header::ACCEPT).cloned();

        let response = match self
            .proxy_to(
                app,
                route,
                request,
                conn,
                settings,
                client_host,
                &request_id,
                client_ip,
            )
            .await
        {
            Ok(response) => response,
            Err(Refusal::Respond(mut response)) => {
                add_gateway_headers(response.headers_mut(), settings, &request_id, conn.https);
                *response
            }
            Err(failure) => {
                if let Some(kind) = failure.metric_kind() {
                    app.metrics.record_upstream_error(conn.worker, kind);
                }
                tracing::warn!(request_id = request_id.to_str().unwrap_or("-"), app = %app.id, error = %failure, "request not proxied");
                error_page(
                    settings,
                    failure.page(),
                    &request_id,
                    accept.as_ref(),
                    conn.https,
                )
            }
        };
        account.record(&app.metrics, response.status());
        response
    }

    #[allow(clippy::too_many_arguments)]
    async fn proxy_to(
        &self,
        app: &App,
        route: RouteMatch,
        request: Request<Incoming>,
        conn: &ConnInfo,
        settings: &ProxySettings,
        client_host: Option<HeaderValue>,
        request_id: &HeaderValue,
        client_ip: IpAddr,
    ) -> Result<Response<ResponseBody>, Refusal> {
        // 2. admit: body size, then login, then a required signature, then the access
        //    policies (which may ask whether the request was signed)
        if declared_length(&request).is_some_and(|len| len > app.max_body) {
            return Err(Refusal::Page(ErrorPage::PayloadTooLarge));
        }
        let caller = match app.access {
            Access::Public => None,
            Access::Authenticated => Some(
                self.admit(app, &request, conn, client_host.as_ref())
                    .await?,
            ),
        };
        let guarded = app
            .signature_guard
            .as_ref()
            .filter(|rule| rule.applies(request.method(), request.uri().path()));
        let (request, signed) = match guarded {
            None => (signed::Checked::streaming(request, app), false),
            Some(rule) => {
                let actor = caller
                    .as_ref()
                    .map_or("-", |caller| caller.identity().username.as_str());
                let checked = signed::check(
                    signed::GuardCall {
                        service: self.signatures.as_deref(),
                        app,
                        rule,
                        settings,
                        actor,
                        client_ip,
                    },
                    request,
                )
                .await?;
                (checked, true)
            }
        };
        if let Some(caller) = &caller {
            self.authorize(
                app,
                caller,
                request.head(),
                client_ip,
                request_id,
                conn.worker,
                signed,
            )
            .await?;
        }
        let assertion = match (&caller, &self.gatekeeper) {
            (Some(caller), Some(gatekeeper)) => gatekeeper.assertion(caller, &app.id),
            _ => None,
        };
        let identity = match (&caller, &self.gatekeeper) {
            (Some(caller), Some(gatekeeper)) => {
                Some((caller.identity(), &gatekeeper.headers, assertion))
            }
            _ => None,
        };
        let (mut parts, body, client_upgrade) = request.into_parts();
        let upgrade = client_upgrade.is_some();
        let idempotent = is_idempotent(&parts.method);

        // 3. rewrite request head
        let rewrite = HeadRewrite {
            app,
            route,
            settings,
            conn,
            client_host: client_host.as_ref(),
            request_id,
            upgrade,
            identity,
            session_cookie: self
                .gatekeeper
                .as_ref()
                .map(|g| g.sessions.settings().cookie_name.as_str()),
        };
        rewrite
            .apply(&mut parts)
            .map_err(|()| Refusal::Page(ErrorPage::BadRequest))?;
        let body = match body {
            signed::Body::Streaming(body) => {
                RequestBody::new(body, app.max_body, settings.body_read_timeout)
            }
            signed::Body::Verified(bytes, verified) => {
                verified.apply(&mut parts.headers);
                RequestBody::buffered(bytes)
            }
        };
        let upstream_request = Request::from_parts(parts, body);

        // 4. forward
        let Forwarded {
            mut response,
            connection,
        } = forward::forward(app, &conn.pool, conn.worker, upstream_request, idempotent)
            .await
            .map_err(Refusal::Forward)?;

        // 5. filter response
        let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
        headers::remove_hop_by_hop(response.headers_mut(), switching);
        if switching {
            match client_upgrade {
                Some(client) => websocket::splice(client, &mut response, app.id.clone()),
                None => return Err(Refusal::Page(ErrorPage::BadGateway)),
            }
        }
        let (mut parts, body) = response.into_parts();
        add_gateway_headers(&mut parts.headers, settings, request_id, conn.https);
        Ok(Response::from_parts(
            parts,
            ResponseBody::upstream(body, connection),
        ))
    }
}

impl Proxy {
    /// Phase 2 for apps that require login: the user's session (or, where the app accepts
    /// them, a gateway access token), or a ready refusal.
    async fn admit(
        &self,
        app: &App,
        request: &Request<Incoming>,
        conn: &ConnInfo,
        client_host: Option<&HeaderValue>,
    ) -> Result<Admitted, Refusal> {
        let Some(gatekeeper) = &self.gatekeeper else {
            return Err(Refusal::Page(ErrorPage::ServiceUnavailable));
        };
        if app.accept_bearer {
            if let Some(token) = bearer_token(request.headers()) {
                return gatekeeper
                    .admit_bearer(token, &app.id)
                    .await
                    .map(Admitted::Bearer)
                    .map_err(|response| Refusal::Respond(Box::new(response)));
            }
        }
        let authority = client_host.and_then(|h| h.to_str().ok()).unwrap_or("");
        let host = normalise_host(authority);
        let scheme = if conn.https { "https" } else { "http" };
        let path = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let original_url = format!("{scheme}://{authority}{path}");
        match gatekeeper
            .admit(request.headers(), &host, &original_url, conn.https)
            .await
        {
            Admission::Admitted(session) => Ok(Admitted::Session(session)),
            Admission::Refused(response) => Err(Refusal::Respond(Box::new(response))),
        }
    }
}

impl Proxy {
    /// Phase 2, last step: the access policies' decision for a logged-in user (when configured).
    /// A denial is audited with its reason and answered with the 403 page and request id only.
    #[allow(clippy::too_many_arguments)]
    async fn authorize(
        &self,
        app: &App,
        caller: &Admitted,
        request: &Parts,
        client_ip: IpAddr,
        request_id: &HeaderValue,
        worker: usize,
        signed: bool,
    ) -> Result<(), Refusal> {
        let Some(authorizer) = self.gatekeeper.as_ref().and_then(|g| g.authorizer.as_ref()) else {
            return Ok(());
        };
        let route = RouteRequest {
            app: &app.id,
            method: request.method.as_str(),
            path: request.uri.path(),
            client_ip,
            signed,
            worker,
        };
        let principal = caller.principal();
        let decision = authorizer.decide_for(
            principal,
            crate::policy::Target::Route { app: &app.id },
            &route,
        );
        if decision.allowed {
            return Ok(());
        }
        authorizer
            .record_denial_of(
                principal.name(),
                &decision,
                &route,
                request_id.to_str().unwrap_or("-"),
            )
            .await;
        Err(Refusal::Page(ErrorPage::Forbidden))
    }
}

/// The token of `Authorization: Bearer …`, if that is what the request carries.
fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Why a request got a gateway page instead of the app's answer.
enum Refusal {
    Page(ErrorPage),
    Forward(ForwardError),
    /// A response decided before forwarding (login redirect, 401).
    Respond(Box<Response<ResponseBody>>),
}

impl Refusal {
    fn page(&self) -> ErrorPage {
        match self {
            Refusal::Page(page) => *page,
            Refusal::Respond(_) => ErrorPage::InternalError,
            Refusal::Forward(ForwardError::Timeout(_)) => ErrorPage::GatewayTimeout,
            Refusal::Forward(ForwardError::Body(_, BodyFailure::TooLarge)) => {
                ErrorPage::PayloadTooLarge
            }
            Refusal::Forward(ForwardError::Body(
                _,
                BodyFailure::ReadTimeout | BodyFailure::ClientGone,
            )) => ErrorPage::BadRequest,
            Refusal::Forward(ForwardError::Connect(_) | ForwardError::Upstream(_)) => {
                ErrorPage::BadGateway
            }
        }
    }

    fn metric_kind(&self) -> Option<crate::metrics::UpstreamErrorKind> {
        match self {
            Refusal::Page(_) | Refusal::Respond(_) => None,
            // Connect failures are counted per attempt inside `forward`.
            Refusal::Forward(ForwardError::Connect(_)) => None,
            Refusal::Forward(error) => error.metric_kind(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Page(page) => write!(f, "refused with {}", page.status()),
            Refusal::Respond(response) => write!(f, "answered with {}", response.status()),
            Refusal::Forward(error) => write!(f, "{error}"),
        }
    }
}

/// Step 3 of the pipeline: the request head as the upstream must see it.
struct HeadRewrite<'a> {
    app: &'a App,
    route: RouteMatch,
    settings: &'a ProxySettings,
    conn: &'a ConnInfo,
    client_host: Option<&'a HeaderValue>,
    request_id: &'a HeaderValue,
    upgrade: bool,
    /// The logged-in user, the header names to carry them in, and their signed assertion.
    identity: Option<(&'a Identity, &'a IdentityHeaderNames, Option<HeaderValue>)>,
    /// Name of the gateway's session cookie, removed from what the app receives.
    session_cookie: Option<&'a str>,
}

impl HeadRewrite<'_> {
    fn apply(&self, parts: &mut Parts) -> Result<(), ()> {
        let headers = &mut parts.headers;
        headers::remove_hop_by_hop(headers, self.upgrade);
        self.settings.identity.strip(headers);
        let peer_trusted = self.settings.trusted.contains(self.conn.peer.ip());
        headers::set_forwarding(
            headers,
            Forwarding {
                peer: self.conn.peer.ip(),
                peer_trusted,
                https: self.conn.https,
                host: self.client_host,
            },
        );
        headers.insert(&X_REQUEST_ID, self.request_id.clone());
        if let Some((identity, names, assertion)) = &self.identity {
            names.apply(headers, identity, assertion.clone());
        }
        if let Some(cookie) = self.session_cookie {
            // The single sign-on cookie opens every app: no app gets to see (and replay) it.
            headers::remove_cookie(headers, cookie);
        }
        if self.app.preserve_host {
            if let Some(host) = self.client_host {
                headers.insert(header::HOST, host.clone());
            }
        }
        parts.version = Version::HTTP_11;
        parts.uri = self.upstream_uri(&parts.uri)?;
        Ok(())
    }

    /// Origin-form URI: the path with the app's prefix stripped if configured, and the query.
    fn upstream_uri(&self, uri: &Uri) -> Result<Uri, ()> {
        let path = uri.path();
        let path = if self.app.strip_prefix {
            &path[self.route.prefix_len.min(path.len())..]
        } else {
            path
        };
        let rest = if path.is_empty() || !path.starts_with('/') {
            ["/", path].concat()
        } else {
            path.to_string()
        };
        let with_query = match uri.query() {
            Some(query) => format!("{rest}?{query}"),
            None => rest,
        };
        let path_and_query = PathAndQuery::try_from(with_query).map_err(|_| ())?;
        Ok(Uri::from(path_and_query))
    }
}

fn add_gateway_headers(
    headers: &mut http::HeaderMap,
    settings: &ProxySettings,
    request_id: &HeaderValue,
    https: bool,
) {
    headers.insert(&X_REQUEST_ID, request_id.clone());
    if https {
        if let Some(hsts) = &settings.hsts {
            headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
    }
}

/// A gateway page for `page`, in the client's preferred format.
pub fn error_page(
    settings: &ProxySettings,
    page: ErrorPage,
    request_id: &HeaderValue,
    accept: Option<&HeaderValue>,
    https: bool,
) -> Response<ResponseBody> {
    let (content_type, body) = render_error(
        page,
        request_id.to_str().unwrap_or("-"),
        accept,
        &settings.branding,
    );
    let mut response = Response::new(ResponseBody::full(body));
    *response.status_mut() = page.status();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    add_gateway_headers(headers, settings, request_id, https);
    response
}

/// The request id: a trusted proxy's, if it sent a plain one; otherwise a new one.
fn request_id(
    request: &Request<Incoming>,
    conn: &ConnInfo,
    settings: &ProxySettings,
) -> HeaderValue {
    match request.headers().get(&X_REQUEST_ID) {
        Some(incoming)
            if request_id::acceptable_incoming_id(incoming)
                && settings.trusted.contains(conn.peer.ip()) =>
        {
            incoming.clone()
        }
        _ => request_id::new_request_id(),
    }
}

/// The authority the client asked for: `Host` (HTTP/1.1) or `:authority` (HTTP/2).
fn client_host(request: &Request<Incoming>) -> Option<HeaderValue> {
    match request.uri().authority() {
        Some(authority) => HeaderValue::from_str(authority.as_str()).ok(),
        None => request.headers().get(header::HOST).cloned(),
    }
}

fn declared_length(request: &Request<Incoming>) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Methods safe to send twice (RFC 9110 §9.2.2).
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Step 6 of the pipeline: metrics and one access-log line per request.
struct Account<'a> {
    settings: &'a ProxySettings,
    request_id: &'a HeaderValue,
    method: &'a Method,
    /// The path only: a query string may carry secrets.
    path: Option<&'a str>,
    client_ip: IpAddr,
    started: Instant,
    worker: usize,
}

impl Account<'_> {
    fn record(&self, metrics: &AppMetrics, status: StatusCode) {
        metrics.record_request(
            self.worker,
            self.method,
            status.as_u16(),
            self.started.elapsed(),
        );
        if !self.settings.access_log {
            return;
        }
        tracing::info!(
            target: "govgate::access",
            request_id = self.request_id.to_str().unwrap_or("-"),
            app = metrics.id(),
            method = self.method.as_str(),
            path = self.path.unwrap_or("-"),
            status = status.as_u16(),
            client_ip = %self.client_ip,
            duration_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
    }
}
