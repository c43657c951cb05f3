//! The token endpoint (RFC 6749 §3.2): authorization codes, refresh tokens with rotation,
//! and client credentials for systems.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{json, Value};

use super::clients::{Authenticated, Client, PresentedCredentials};
use super::grants::{Grant, Redemption, RefreshRecord, UsedMarker};
use super::tokens::TokenMinter;
use super::types::{now_unix, ErrorCode, ProtocolError, Scopes};
use super::{OidcError, Provider};
use crate::audit::AuditEvent;
use crate::config::GrantType;
use crate::policy::Target;
use crate::proxy::admit::{Principal, RouteRequest};

use super::authorize::Params;

impl Provider {
    /// Authenticates the client of a back-channel request by its registered method; a
    /// `private_key_jwt` assertion is accepted once.
    pub async fn authenticate_client(
        &self,
        presented: &PresentedCredentials,
    ) -> Result<&Client, ProtocolError> {
        let audiences = [self.endpoint_url("token"), self.issuer.clone()];
        let Authenticated { client, assertion } =
            self.clients.authenticate(presented, &audiences)?;
        if let Some((jti, exp)) = assertion {
            let first = self
                .grants()
                .first_use_of_assertion(client.id.as_str(), &jti, exp)
                .await?;
            if !first {
                return Err(ProtocolError::invalid_client(
                    "client assertion was already used",
                ));
            }
        }
        Ok(client)
    }

    /// `POST /oidc/token`: the JSON answer of RFC 6749 §5.1, or a protocol error (§5.2).
    pub async fn token(
        &self,
        params: &Params,
        presented: &PresentedCredentials,
        client_ip: IpAddr,
    ) -> Result<Value, ProtocolError> {
        let client = self.authenticate_client(presented).await?;
        match params.one("grant_type")? {
            Some("authorization_code") => {
                require_grant(client, GrantType::AuthorizationCode)?;
                self.exchange_code(client, params, client_ip).await
            }
            Some("refresh_token") => {
                require_grant(client, GrantType::RefreshToken)?;
                self.refresh(client, params, client_ip).await
            }
            Some("client_credentials") => {
                require_grant(client, GrantType::ClientCredentials)?;
                self.client_credentials(client, params, client_ip).await
            }
            Some(other) => Err(ProtocolError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type {other:?} is not supported"),
            )),
            None => Err(ProtocolError::invalid_request("grant_type is missing")),
        }
    }

    async fn exchange_code(
        &self,
        client: &Client,
        params: &Params,
        client_ip: IpAddr,
    ) -> Result<Value, ProtocolError> {
        let code = params
            .one("code")?
            .ok_or_else(|| ProtocolError::invalid_request("code is missing"))?;
        let record = match self.grants().redeem_code(code).await? {
            Redemption::Fresh(record) => record,
            Redemption::Reused(marker) => {
                // RFC 6749 §4.1.2: a code used twice was stolen; revoke what it gave.
                self.revoke_for_reuse(&marker, "code_reuse", client_ip)
                    .await?;
                return Err(ProtocolError::invalid_grant(
                    "authorization code already used",
                ));
            }
            Redemption::Unknown => {
                return Err(ProtocolError::invalid_grant(
                    "authorization code is invalid or expired",
                ))
            }
        };
        if record.grant.client_id != client.id.as_str() {
            return Err(ProtocolError::invalid_grant(
                "code was issued to another client",
            ));
        }
        if params.one("redirect_uri")? != Some(record.redirect_uri.as_str()) {
            return Err(ProtocolError::invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
        let verifier = params.one("code_verifier")?;
        match (&record.code_challenge, verifier) {
            (Some(challenge), Some(verifier)) if challenge.accepts(verifier) => {}
            (Some(_), _) => return Err(ProtocolError::invalid_grant("PKCE verification failed")),
            // A verifier without a challenge is a downgrade attempt (RFC 9700 §2.1.1).
            (None, Some(_)) => {
                return Err(ProtocolError::invalid_grant(
                    "code_verifier sent but no code_challenge was",
                ))
            }
            (None, None) => {}
        }
        let nonce = record.nonce.clone();
        self.issue_user_tokens(
            client,
            &record.grant,
            nonce.as_ref(),
            None,
            client_ip,
            "authorization_code",
        )
        .await
    }

    async fn refresh(
        &self,
        client: &Client,
        params: &Params,
        client_ip: IpAddr,
    ) -> Result<Value, ProtocolError> {
        let token = params
            .one("refresh_token")?
            .ok_or_else(|| ProtocolError::invalid_request("refresh_token is missing"))?;
        let record = match self.grants().redeem_refresh(token).await? {
            Redemption::Fresh(record) => record,
            Redemption::Reused(marker) => {
                // RFC 9700 §4.14.2: a rotated-out refresh token came back; the family is
                // compromised. Revoke all of it.
                self.revoke_for_reuse(&marker, "refresh_reuse", client_ip)
                    .await?;
                return Err(ProtocolError::invalid_grant("refresh token already used"));
            }
            Redemption::Unknown => {
                return Err(ProtocolError::invalid_grant(
                    "refresh token is invalid or expired",
                ))
            }
        };
        if record.grant.client_id != client.id.as_str() {
            return Err(ProtocolError::invalid_grant(
                "refresh token of another client",
            ));
        }
        if record.expires_at <= now_unix()
            || self
                .grants()
                .is_revoked("-", Some(&record.grant.id))
                .await?
        {
            return Err(ProtocolError::invalid_grant(
                "refresh token is no longer valid",
            ));
        }
        let mut grant = record.grant.clone();
        if let Some(scope) = params.one("scope")? {
            let narrowed = Scopes::parse(scope);
            if !narrowed.is_subset_of(&grant.scopes) {
                return Err(ProtocolError::new(
                    ErrorCode::InvalidScope,
                    "a refresh may only narrow the granted scopes",
                ));
            }
            grant.scopes = narrowed;
        }
        self.issue_user_tokens(
            client,
            &grant,
            None,
            Some(record.expires_at),
            client_ip,
            "refresh_token",
        )
        .await
    }

    /// Access token, ID token (for `openid`) and, when the client may refresh, a new
    /// refresh token of the same family (expiring with the family).
    async fn issue_user_tokens(
        &self,
        client: &Client,
        grant: &Grant,
        nonce: Option<&super::types::Nonce>,
        family_expiry: Option<u64>,
        client_ip: IpAddr,
        grant_name: &str,
    ) -> Result<Value, ProtocolError> {
        let minter = self.minter();
        let lifetime = self.access_lifetime(client);
        let access = minter.user_access_token(client, grant, lifetime)?;
        let mut answer = json!({
            "access_token": access.token,
            "token_type": "Bearer",
            "expires_in": lifetime.as_secs(),
            "scope": grant.scopes.to_text(),
        });
        if grant.scopes.contains("openid") {
            let id_token =
                minter.id_token(client, grant, nonce, &access.token, self.lifetimes.id_token)?;
            answer["id_token"] = id_token.into();
        }
        if client.allows_grant(GrantType::RefreshToken) {
            let expires_at = family_expiry
                .unwrap_or_else(|| now_unix() + self.refresh_lifetime(client, grant).as_secs());
            let refresh = self
                .grants()
                .issue_refresh(&RefreshRecord {
                    grant: grant.clone(),
                    expires_at,
                })
                .await?;
            answer["refresh_token"] = refresh.into();
        }
        self.metrics.record_tokens(grant_name);
        self.record_issued(AuditEvent::TokenIssued {
            subject: grant.identity.username.clone(),
            client_id: client.id.as_str().to_string(),
            grant: grant_name.to_string(),
            scope: grant.scopes.to_text(),
            client_ip: Some(client_ip),
        })
        .await;
        Ok(answer)
    }

    async fn client_credentials(
        &self,
        client: &Client,
        params: &Params,
        client_ip: IpAddr,
    ) -> Result<Value, ProtocolError> {
        // Scopes about a person make no sense without one.
        let personal = [
            "openid",
            "profile",
            "email",
            "groups",
            "roles",
            "offline_access",
        ];
        let scopes = match params.one("scope")? {
            Some(scope) => Scopes::parse(scope),
            None => Scopes::parse(
                &client
                    .scopes
                    .iter()
                    .filter(|s| !personal.contains(s))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        };
        if !scopes.is_subset_of(&client.scopes) || scopes.iter().any(|s| personal.contains(&s)) {
            return Err(ProtocolError::new(
                ErrorCode::InvalidScope,
                "a requested scope is not allowed for this client",
            ));
        }
        if !self.system_may_sign_in(client, client_ip).await {
            return Err(ProtocolError::new(
                ErrorCode::UnauthorizedClient,
                "the access policies do not allow this client to obtain tokens",
            ));
        }
        let lifetime = self.access_lifetime(client);
        let access = self
            .minter()
            .system_access_token(client, &scopes, lifetime)?;
        self.record_issued(AuditEvent::TokenIssued {
            subject: client.id.as_str().to_string(),
            client_id: client.id.as_str().to_string(),
            grant: "client_credentials".into(),
            scope: scopes.to_text(),
            client_ip: Some(client_ip),
        })
        .await;
        Ok(json!({
            "access_token": access.token,
            "token_type": "Bearer",
            "expires_in": lifetime.as_secs(),
            "scope": scopes.to_text(),
        }))
    }

    /// The policies' `signin` decision for a system client on its own app.
    async fn system_may_sign_in(&self, client: &Client, client_ip: IpAddr) -> bool {
        let Some(authorizer) = &self.authorizer else {
            return true;
        };
        let principal = Principal::System {
            client_id: client.id.as_str(),
            name: &client.name,
            roles: &client.roles,
        };
        let request = RouteRequest {
            app: &client.app,
            method: "POST",
            path: "/oidc/token",
            client_ip,
            signed: false,
            worker: 0,
        };
        let decision =
            authorizer.decide_for(principal, Target::SignIn { app: &client.app }, &request);
        if !decision.allowed {
            let request_id = crate::proxy::request_id::new_request_id();
            authorizer
                .record_denial_of(
                    client.id.as_str(),
                    &decision,
                    &request,
                    request_id.to_str().unwrap_or("-"),
                )
                .await;
        }
        decision.allowed
    }

    async fn revoke_for_reuse(
        &self,
        marker: &UsedMarker,
        reason: &str,
        client_ip: IpAddr,
    ) -> Result<(), OidcError> {
        self.grants().revoke_grant(&marker.grant_id).await?;
        self.metrics
            .reuse_revocations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(client = %marker.client_id, reason, "a spent credential was presented again; its grant is revoked");
        self.record(AuditEvent::GrantRevoked {
            subject: marker.username.clone(),
            client_id: marker.client_id.clone(),
            reason: reason.to_string(),
            client_ip: Some(client_ip),
        })
        .await;
        Ok(())
    }

    pub(super) fn minter(&self) -> TokenMinter<'_> {
        TokenMinter {
            issuer: &self.issuer,
            keys: &self.keys,
        }
    }

    fn access_lifetime(&self, client: &Client) -> Duration {
        client
            .access_token_lifetime
            .unwrap_or(self.lifetimes.access_token)
    }

    fn refresh_lifetime(&self, client: &Client, grant: &Grant) -> Duration {
        if grant.offline {
            return self.lifetimes.offline_token;
        }
        client
            .refresh_token_lifetime
            .unwrap_or(self.lifetimes.refresh_token)
    }
}

fn require_grant(client: &Client, grant: GrantType) -> Result<(), ProtocolError> {
    if client.allows_grant(grant) {
        Ok(())
    } else {
        Err(ProtocolError::new(
            ErrorCode::UnauthorizedClient,
            format!("this client may not use the {} grant", grant.as_str()),
        ))
    }
}
