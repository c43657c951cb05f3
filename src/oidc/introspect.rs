//! Token introspection (RFC 7662) and revocation (RFC 7009), for access and refresh tokens.
//!
//! A client learns about a token only when it concerns it: a token issued to it, or an
//! access token for its audience. Anything else is simply `{"active": false}`.

use std::net::IpAddr;

use serde_json::{json, Value};

use super::authorize::Params;
use super::clients::{Client, PresentedCredentials};
use super::tokens::{check_access_token, BearerError};
use super::types::{now_unix, ProtocolError};
use super::Provider;
use crate::audit::AuditEvent;
use crate::keys::VerifyOptions;

impl Provider {
    /// `POST /oidc/introspect`.
    pub async fn introspect(
        &self,
        params: &Params,
        presented: &PresentedCredentials,
    ) -> Result<Value, ProtocolError> {
        let client = self.authenticate_client(presented).await?;
        let token = params
            .one("token")?
            .ok_or_else(|| ProtocolError::invalid_request("token is missing"))?;
        let hint = params.one("token_type_hint")?;
        let inactive = json!({ "active": false });
        if hint != Some("refresh_token") {
            if let Some(answer) = self.introspect_access(client, token).await? {
                return Ok(answer);
            }
        }
        if let Some(answer) = self.introspect_refresh(client, token).await? {
            return Ok(answer);
        }
        if hint == Some("refresh_token") {
            if let Some(answer) = self.introspect_access(client, token).await? {
                return Ok(answer);
            }
        }
        Ok(inactive)
    }

    async fn introspect_access(
        &self,
        client: &Client,
        token: &str,
    ) -> Result<Option<Value>, ProtocolError> {
        let claims =
            match check_access_token(&self.keys, self.grants(), &self.issuer, token, None).await {
                Ok(claims) => claims,
                Err(BearerError::Provider(error)) => return Err(error.into()),
                Err(_) => return Ok(None),
            };
        let concerns_client =
            claims.client_id == client.id.as_str() || claims.aud.contains(&client.app);
        if !concerns_client {
            return Ok(None);
        }
        let mut answer = json!({
            "active": true,
            "token_type": "Bearer",
            "scope": claims.scope,
            "client_id": claims.client_id,
            "sub": claims.sub,
            "aud": claims.aud,
            "iss": claims.iss,
            "exp": claims.exp,
            "iat": claims.iat,
            "jti": claims.jti,
        });
        if let Some(username) = &claims.preferred_username {
            answer["username"] = username.clone().into();
        }
        if let Some(acr) = &claims.acr {
            answer["acr"] = acr.clone().into();
        }
        Ok(Some(answer))
    }

    async fn introspect_refresh(
        &self,
        client: &Client,
        token: &str,
    ) -> Result<Option<Value>, ProtocolError> {
        let Some(record) = self.grants().peek_refresh(token).await? else {
            return Ok(None);
        };
        let live = record.expires_at > now_unix()
            && !self
                .grants()
                .is_revoked("-", Some(&record.grant.id))
                .await?;
        if !live || record.grant.client_id != client.id.as_str() {
            return Ok(None);
        }
        Ok(Some(json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": record.grant.scopes.to_text(),
            "client_id": record.grant.client_id,
            "sub": record.grant.identity.subject,
            "username": record.grant.identity.username,
            "iss": self.issuer,
            "exp": record.expires_at,
        })))
    }

    /// `POST /oidc/revoke`: revoking a refresh token revokes its whole grant; revoking an
    /// access token revokes that token. Unknown tokens are fine (RFC 7009 §2.2).
    pub async fn revoke(
        &self,
        params: &Params,
        presented: &PresentedCredentials,
        client_ip: IpAddr,
    ) -> Result<(), ProtocolError> {
        let client = self.authenticate_client(presented).await?;
        let token = params
            .one("token")?
            .ok_or_else(|| ProtocolError::invalid_request("token is missing"))?;
        if let Some(record) = self.grants().peek_refresh(token).await? {
            if record.grant.client_id == client.id.as_str() {
                self.grants().revoke_grant(&record.grant.id).await?;
                self.record(AuditEvent::GrantRevoked {
                    subject: record.grant.identity.username.clone(),
                    client_id: record.grant.client_id.clone(),
                    reason: "revocation".into(),
                    client_ip: Some(client_ip),
                })
                .await;
            }
            return Ok(());
        }
        // An access token: signature and issuer must hold (revoking garbage is a no-op).
        let options = VerifyOptions {
            issuer: Some(self.issuer.clone()),
            audience: None,
            typ: Some(super::tokens::ACCESS_TOKEN_TYP.into()),
            leeway: std::time::Duration::from_secs(5),
        };
        let Ok(value) = self.keys.load().verify(token, &options) else {
            return Ok(());
        };
        let (Some(jti), Some(exp), Some(owner)) = (
            value["jti"].as_str(),
            value["exp"].as_u64(),
            value["client_id"].as_str(),
        ) else {
            return Ok(());
        };
        if owner == client.id.as_str() {
            self.grants().revoke_token_id(jti, exp).await?;
        }
        Ok(())
    }
}
