//! The relying party of the OIDC tests: the `openidconnect` crate (v4) with a transport of
//! our own — one HTTP/1.1 request per connection over hyper's client connection on a tokio
//! `TcpStream` (plain HTTP on loopback), so no reqwest, and with it no second TLS and
//! crypto stack, enters the build. Calls block on a small runtime owned by each [`Rp`], so
//! tests stay synchronous like the curl browser they drive.
#![allow(dead_code)]

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreClaimName, CoreClaimType, CoreClientAuthMethod,
    CoreErrorResponseType, CoreGenderClaim, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseMode, CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreSubjectIdentifierType, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AdditionalClaims, AdditionalProviderMetadata, AuthenticationFlow,
    AuthorizationCode, AuthorizationRequest, Client, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest, HttpResponse, IdToken,
    IdTokenClaims, IdTokenFields, IntrospectionUrl, IssuerUrl, LogoutProviderMetadata, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata, RedirectUrl,
    RefreshToken, RequestTokenError, RevocationUrl, Scope, StandardErrorResponse,
    StandardTokenResponse, TokenResponse as _, UserInfoClaims,
};
use serde::{Deserialize, Serialize};

/// Claims of govgate beyond the standard ones, in ID tokens and userinfo.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GovClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}
impl AdditionalClaims for GovClaims {}

/// Discovery members beyond OpenID Connect Discovery 1.0 that the tests rely on; they are
/// required here, so a discovery document without them fails to parse.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GovMetadata {
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub code_challenge_methods_supported: Vec<String>,
    pub backchannel_logout_supported: bool,
    pub backchannel_logout_session_supported: bool,
    pub frontchannel_logout_supported: bool,
}
impl AdditionalProviderMetadata for GovMetadata {}

pub type GovProviderMetadata = ProviderMetadata<
    LogoutProviderMetadata<GovMetadata>,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;
pub type GovIdToken =
    IdToken<GovClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;
pub type GovIdTokenClaims = IdTokenClaims<GovClaims, CoreGenderClaim>;
pub type GovUserInfo = UserInfoClaims<GovClaims, CoreGenderClaim>;
pub type GovTokenResponse = StandardTokenResponse<
    IdTokenFields<
        GovClaims,
        openidconnect::EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;
pub type GovClient = Client<
    GovClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    GovTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointSet,
    EndpointSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;
pub type GovAuthorizationRequest<'a> =
    AuthorizationRequest<'a, CoreAuthDisplay, CoreAuthPrompt, CoreResponseType>;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(String);

/// The relying party's HTTP client: one request, one loopback connection, no redirects
/// followed (openidconnect's `AsyncHttpClient` is implemented for this function).
pub async fn transport(request: HttpRequest) -> Result<HttpResponse, TransportError> {
    let fail = |what: &str, error: &dyn std::fmt::Display| {
        TransportError(format!("{what} {}: {error}", "(relying party transport)"))
    };
    let (mut parts, body) = request.into_parts();
    let authority = parts
        .uri
        .authority()
        .cloned()
        .ok_or_else(|| TransportError(format!("no authority in {}", parts.uri)))?;
    if parts.uri.scheme_str() != Some("http") {
        return Err(TransportError(format!("only http:// here: {}", parts.uri)));
    }
    let port = authority.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((authority.host(), port))
        .await
        .map_err(|e| fail("connect", &e))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| fail("handshake", &e))?;
    tokio::spawn(connection);
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    parts.uri = path.parse().map_err(|e| fail("path", &e))?;
    let host = authority
        .as_str()
        .parse()
        .map_err(|e| fail("host header", &e))?;
    parts.headers.insert(http::header::HOST, host);
    let response = sender
        .send_request(http::Request::from_parts(
            parts,
            Full::new(Bytes::from(body)),
        ))
        .await
        .map_err(|e| fail("request", &e))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| fail("response body", &e))?
        .to_bytes();
    Ok(http::Response::from_parts(parts, body.to_vec()))
}

/// An OAuth error response as the relying party saw it.
#[derive(Debug, Clone)]
pub struct OAuthError {
    /// The `error` code (`invalid_grant`, …), or `"<not an OAuth error>"`.
    pub error: String,
    /// Everything known, for assertion messages.
    pub detail: String,
}

/// Turns openidconnect's request error into the error code and a description.
pub fn oauth_error<RE, T>(error: RequestTokenError<RE, StandardErrorResponse<T>>) -> OAuthError
where
    RE: std::error::Error + 'static,
    T: openidconnect::ErrorResponseType + Serialize + std::fmt::Display,
{
    match &error {
        RequestTokenError::ServerResponse(response) => OAuthError {
            error: serde_json::to_value(response.error())
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            detail: format!("{response:?}"),
        },
        RequestTokenError::Parse(e, body) => OAuthError {
            error: "<not an OAuth error>".into(),
            detail: format!("{e}: {}", String::from_utf8_lossy(body)),
        },
        other => OAuthError {
            error: "<not an OAuth error>".into(),
            detail: format!("{other:?}"),
        },
    }
}

/// One authorization request the relying party made.
pub struct AuthRequest {
    pub url: String,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

/// A relying party: one registered client, its own runtime.
pub struct Rp {
    pub client: GovClient,
    pub metadata: GovProviderMetadata,
    secret: Option<String>,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl Rp {
    /// Discovers the provider at `issuer` (the JWKS too) and sets the client up.
    pub fn discover(issuer: &str, client_id: &str, secret: Option<&str>, redirect: &str) -> Rp {
        let runtime = Arc::new(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("relying party runtime"),
        );
        let issuer_url = IssuerUrl::new(issuer.to_string()).expect("issuer URL");
        let metadata = runtime
            .block_on(GovProviderMetadata::discover_async(issuer_url, &transport))
            .unwrap_or_else(|e| panic!("discovery at {issuer} failed: {e:?}"));
        let extra = &metadata.additional_metadata().additional_metadata;
        let introspection = IntrospectionUrl::new(extra.introspection_endpoint.clone())
            .expect("introspection_endpoint is a URL");
        let revocation = RevocationUrl::new(extra.revocation_endpoint.clone())
            .expect("revocation_endpoint is a URL");
        let client: GovClient = Client::from_provider_metadata(
            metadata.clone(),
            ClientId::new(client_id.to_string()),
            secret.map(|s| ClientSecret::new(s.to_string())),
        )
        .set_redirect_uri(RedirectUrl::new(redirect.to_string()).expect("redirect URL"))
        .set_introspection_url(introspection)
        .set_revocation_url(revocation);
        Rp {
            client,
            metadata,
            secret: secret.map(String::from),
            runtime,
        }
    }

    /// Uses `client_secret_post` instead of HTTP Basic.
    pub fn with_secret_in_body(mut self) -> Rp {
        self.client = self
            .client
            .set_auth_type(openidconnect::AuthType::RequestBody);
        self
    }

    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// An authorization request (code flow, PKCE S256, random state and nonce) for `scopes`
    /// besides `openid`; `tweak` may add prompt, max_age or other parameters.
    pub fn auth_request(
        &self,
        scopes: &[&str],
        tweak: impl FnOnce(GovAuthorizationRequest<'_>) -> GovAuthorizationRequest<'_>,
    ) -> AuthRequest {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in scopes {
            request = request.add_scope(Scope::new(scope.to_string()));
        }
        let (url, state, nonce) = tweak(request).url();
        AuthRequest {
            url: url.to_string(),
            state,
            nonce,
            verifier,
        }
    }

    /// Exchanges `code` (with the PKCE verifier, when given).
    pub fn exchange(
        &self,
        code: &str,
        verifier: Option<PkceCodeVerifier>,
    ) -> Result<GovTokenResponse, OAuthError> {
        let mut request = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .expect("token endpoint in discovery");
        if let Some(verifier) = verifier {
            request = request.set_pkce_verifier(verifier);
        }
        self.block_on(request.request_async(&transport))
            .map_err(oauth_error)
    }

    pub fn refresh(&self, token: &RefreshToken) -> Result<GovTokenResponse, OAuthError> {
        let request = self
            .client
            .exchange_refresh_token(token)
            .expect("token endpoint in discovery");
        self.block_on(request.request_async(&transport))
            .map_err(oauth_error)
    }

    /// `client_credentials` for `scopes`; `extra` form fields (a client assertion) are added.
    pub fn client_credentials(
        &self,
        scopes: &[&str],
        extra: &[(&str, &str)],
    ) -> Result<GovTokenResponse, OAuthError> {
        let mut request = self
            .client
            .exchange_client_credentials()
            .expect("token endpoint in discovery");
        for scope in scopes {
            request = request.add_scope(Scope::new(scope.to_string()));
        }
        for (name, value) in extra {
            request = request.add_extra_param(name.to_string(), value.to_string());
        }
        self.block_on(request.request_async(&transport))
            .map_err(oauth_error)
    }

    /// RFC 7662 introspection of any token string (panics if the endpoint errs).
    pub fn introspect(&self, token: &str, hint: Option<&str>) -> CoreTokenIntrospectionResponse {
        let token = AccessToken::new(token.to_string());
        let mut request = self.client.introspect(&token);
        if let Some(hint) = hint {
            request = request.set_token_type_hint(hint.to_string());
        }
        self.block_on(request.request_async(&transport))
            .unwrap_or_else(|e| panic!("introspection failed: {:?}", oauth_error(e)))
    }

    /// RFC 7009 revocation of `token` (hint `access_token` or `refresh_token`), with the
    /// client's HTTP Basic credentials. Sent by hand: oauth2 5 refuses a revocation
    /// endpoint that is not https (RFC 7009 §2 "clients MUST verify"), and the test
    /// gateway speaks plain HTTP on loopback. Returns the status and body.
    pub fn revoke(&self, token: &str, hint: &str) -> (u16, String) {
        let endpoint = self.client.revocation_url().url().as_str().to_string();
        let secret = self
            .secret
            .as_deref()
            .expect("revocation needs the client secret");
        let response = post_form(
            self,
            &endpoint,
            &[("token", token), ("token_type_hint", hint)],
            Some((self.client.client_id().as_str(), secret)),
        );
        (
            response.status().as_u16(),
            String::from_utf8_lossy(response.body()).into_owned(),
        )
    }

    /// The userinfo claims for an access token; `Err` carries the library's reason.
    pub fn userinfo(&self, token: &AccessToken) -> Result<GovUserInfo, String> {
        let request = self
            .client
            .user_info(token.clone(), None)
            .map_err(|e| format!("{e:?}"))?;
        self.block_on(request.request_async(&transport))
            .map_err(|e| format!("{e:?}"))
    }

    /// Verifies the response's ID token as openidconnect does (signature by the JWKS, iss,
    /// aud, azp, exp, iat, nonce) and checks `at_hash` against the access token.
    pub fn verified_id_token(
        &self,
        response: &GovTokenResponse,
        nonce: &Nonce,
    ) -> GovIdTokenClaims {
        let id_token = response
            .id_token()
            .expect("an ID token in the token response");
        let verifier = self.client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, nonce)
            .unwrap_or_else(|e| panic!("ID token refused by openidconnect: {e:?}"))
            .clone();
        let expected = claims.access_token_hash().expect("at_hash in the ID token");
        let actual = AccessTokenHash::from_token(
            response.access_token(),
            id_token.signing_alg().expect("signing alg"),
            id_token.signing_key(&verifier).expect("signing key"),
        )
        .expect("at_hash computable");
        assert_eq!(&actual, expected, "at_hash does not match the access token");
        claims
    }

    /// The `end_session_endpoint` URL for RP-initiated logout.
    pub fn logout_url(&self, id_token: &GovIdToken, post_logout: &str, state: &str) -> String {
        let endpoint = self
            .metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()
            .expect("end_session_endpoint in discovery");
        openidconnect::LogoutRequest::from(endpoint)
            .set_id_token_hint(id_token)
            .set_client_id(self.client.client_id().clone())
            .set_post_logout_redirect_uri(
                openidconnect::PostLogoutRedirectUrl::new(post_logout.to_string())
                    .expect("post-logout URL"),
            )
            .set_state(CsrfToken::new(state.to_string()))
            .http_get_url()
            .to_string()
    }

    /// The provider's JWK Set as discovery fetched it.
    pub fn jwks(&self) -> &openidconnect::core::CoreJsonWebKeySet {
        self.metadata.jwks()
    }
}

/// A raw form POST through the same transport (for status codes and headers the library
/// does not surface); `basic` is HTTP Basic client authentication.
pub fn post_form(
    rp: &Rp,
    url: &str,
    fields: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> HttpResponse {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut request = http::Request::post(url)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(http::header::ACCEPT, "application/json");
    if let Some((user, password)) = basic {
        use base64::Engine as _;
        let encode =
            |s: &str| -> String { form_urlencoded::byte_serialize(s.as_bytes()).collect() };
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            encode(user),
            encode(password)
        ));
        request = request.header(http::header::AUTHORIZATION, format!("Basic {credentials}"));
    }
    let request = request.body(body.into_bytes()).expect("request");
    rp.block_on(transport(request))
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
}

/// The JSON body of a response (panics with the body otherwise).
pub fn json_body(response: &HttpResponse) -> serde_json::Value {
    serde_json::from_slice(response.body()).unwrap_or_else(|e| {
        panic!(
            "{} answered non-JSON ({e}): {}",
            response.status(),
            String::from_utf8_lossy(response.body())
        )
    })
}
