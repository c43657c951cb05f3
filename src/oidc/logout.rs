//! Logout: RP-initiated logout (OIDC RP-Initiated Logout 1.0), and what ending a single
//! sign-on session means for the clients it reached — their session-bound grants revoked,
//! back-channel logout tokens queued, front-channel logout pages listed.

use std::time::Duration;

use serde_json::Value;

use super::authorize::{sid_of, Params};
use super::delivery::LogoutDelivery;
use super::Provider;
use crate::audit::AuditEvent;
use crate::keys::VerifyOptions;
use crate::session::{Session, SessionEndListener};

/// How old an `id_token_hint` may be: RPs send the ID token they got at login, long expired.
const HINT_MAX_AGE: Duration = Duration::from_secs(365 * 24 * 3600);

/// What the end-session endpoint answers.
#[derive(Debug)]
pub enum LogoutOutcome {
    ErrorPage {
        status: u16,
        message: String,
    },
    /// Ask the user first (no `id_token_hint` proving the request comes from their app).
    Confirm {
        fields: Vec<(String, String)>,
        csrf: String,
        client_name: Option<String>,
    },
    /// Logged out: where to go next, front-channel pages to load, the session to clear.
    Done {
        redirect: Option<String>,
        frontchannel: Vec<String>,
        ended: Option<Box<Session>>,
    },
}

/// What a valid `id_token_hint` says.
struct Hint {
    client_id: String,
    sid: Option<String>,
}

impl Provider {
    /// `GET|POST /oidc/logout`. `confirmation` is the CSRF token of the confirmation form.
    pub async fn end_session(
        &self,
        params: &Params,
        session: Option<&Session>,
        confirmation: Option<&str>,
        client_ip: std::net::IpAddr,
    ) -> LogoutOutcome {
        let page = |message: &str| LogoutOutcome::ErrorPage {
            status: 400,
            message: message.to_string(),
        };
        let Ok(hint_text) = params.one("id_token_hint") else {
            return page("Tham số lặp lại. / Repeated parameter.");
        };
        let hint = match hint_text.map(|text| self.read_hint(text)) {
            Some(Some(hint)) => Some(hint),
            Some(None) => {
                return page("id_token_hint không hợp lệ. / The id_token_hint is not valid.")
            }
            None => None,
        };
        let client_id = match (params.one("client_id").ok().flatten(), &hint) {
            (Some(id), Some(hint)) if id != hint.client_id => return page(
                "client_id không khớp id_token_hint. / client_id does not match the id_token_hint.",
            ),
            (Some(id), _) => Some(id.to_string()),
            (None, Some(hint)) => Some(hint.client_id.clone()),
            (None, None) => None,
        };
        let client = client_id.as_deref().and_then(|id| self.clients.get(id));
        let redirect = match params.one("post_logout_redirect_uri").ok().flatten() {
            Some(uri) => match client {
                Some(client) if client.post_logout_uri_allowed(uri) => {
                    Some(with_state(uri, params.one("state").ok().flatten()))
                }
                _ => {
                    return page("Địa chỉ quay lại sau đăng xuất không được đăng ký. / The post_logout_redirect_uri is not registered for this client.")
                }
            },
            None => None,
        };
        let Some(session) = session else {
            return LogoutOutcome::Done {
                redirect,
                frontchannel: Vec::new(),
                ended: None,
            };
        };
        let sid = sid_of(session);
        let proven = hint
            .as_ref()
            .and_then(|h| h.sid.as_deref())
            .is_some_and(|h| h == sid.as_str());
        let confirmed =
            confirmation.is_some_and(|token| super::pages::logout_token_matches(session, token));
        if !proven && !confirmed {
            let fields = [
                "id_token_hint",
                "client_id",
                "post_logout_redirect_uri",
                "state",
            ]
            .into_iter()
            .filter_map(|name| {
                params
                    .one(name)
                    .ok()
                    .flatten()
                    .map(|v| (name.to_string(), v.to_string()))
            })
            .collect();
            return LogoutOutcome::Confirm {
                fields,
                csrf: super::pages::logout_token(session),
                client_name: client.map(|c| c.name.clone()),
            };
        }
        if let Err(error) = self.sessions.destroy(&session.id).await {
            tracing::error!(%error, "cannot delete the session at logout");
            return LogoutOutcome::ErrorPage {
                status: 503,
                message: "Không thể đăng xuất lúc này; hãy thử lại. / Logout failed; try again."
                    .into(),
            };
        }
        self.record(AuditEvent::LoggedOut {
            username: session.identity.username.clone(),
            client_ip: Some(client_ip),
        })
        .await;
        let frontchannel = self.session_ended(session).await;
        LogoutOutcome::Done {
            redirect,
            frontchannel,
            ended: Some(Box::new(session.clone())),
        }
    }

    /// Verifies an ID token we issued, however old (only our keys, our issuer).
    fn read_hint(&self, token: &str) -> Option<Hint> {
        let options = VerifyOptions {
            issuer: Some(self.issuer.clone()),
            audience: None,
            typ: None,
            leeway: HINT_MAX_AGE,
        };
        let claims = self.keys.load().verify(token, &options).ok()?;
        let client_id = match &claims["aud"] {
            Value::String(aud) => aud.clone(),
            Value::Array(list) => list.first()?.as_str()?.to_string(),
            _ => return None,
        };
        Some(Hint {
            client_id,
            sid: claims["sid"].as_str().map(str::to_string),
        })
    }

    /// The clients `session` reached: revoke their session-bound grants, queue their
    /// back-channel logout tokens, and return their front-channel logout URLs.
    async fn end_sso_session(&self, session: &Session) -> Vec<String> {
        let sid = sid_of(session);
        let record = match self.grants().end_sid(&sid).await {
            Ok(Some(record)) => record,
            Ok(None) => return Vec::new(),
            Err(error) => {
                tracing::error!(%error, "cannot read the clients of an ending session");
                return Vec::new();
            }
        };
        for entry in record.clients.iter().filter(|c| !c.offline) {
            if let Err(error) = self.grants().revoke_grant(&entry.grant_id).await {
                tracing::error!(%error, client = %entry.client_id, "grant not revoked at logout");
            }
        }
        let mut clients: Vec<&str> = record
            .clients
            .iter()
            .map(|c| c.client_id.as_str())
            .collect();
        clients.sort_unstable();
        clients.dedup();
        let mut frontchannel = Vec::new();
        for client in clients.into_iter().filter_map(|id| self.clients.get(id)) {
            if let Some(uri) = &client.backchannel_logout_uri {
                match self
                    .minter()
                    .logout_token(client, &record.subject, sid.as_str())
                {
                    Ok(token) => self.logouts.enqueue(LogoutDelivery {
                        client_id: client.id.as_str().to_string(),
                        uri: uri.clone(),
                        token,
                    }),
                    Err(error) => tracing::error!(%error, "cannot sign a logout token"),
                }
            }
            if let Some(uri) = &client.frontchannel_logout_uri {
                let separator = if uri.contains('?') { '&' } else { '?' };
                let query: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("iss", &self.issuer)
                    .append_pair("sid", sid.as_str())
                    .finish();
                frontchannel.push(format!("{uri}{separator}{query}"));
            }
        }
        frontchannel
    }
}

#[async_trait::async_trait]
impl SessionEndListener for Provider {
    async fn session_ended(&self, session: &Session) -> Vec<String> {
        self.end_sso_session(session).await
    }
}

/// `uri` with `state` appended as a query parameter, when given.
fn with_state(uri: &str, state: Option<&str>) -> String {
    let Some(state) = state else {
        return uri.to_string();
    };
    let separator = if uri.contains('?') { '&' } else { '?' };
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("state", state)
        .finish();
    format!("{uri}{separator}{query}")
}
