//! Single-use SSO hand-off codes: an app host outside the cookie domain receives a code
//! in a redirect and redeems it (server side) for a session of its own.

use serde::{Deserialize, Serialize};

use super::id::{is_token, random_token};
use super::{Session, SessionError, SessionId, SessionService};

const CODE_PREFIX: &str = "sso-code:";

/// What a code stands for: this session, for that host only.
#[derive(Serialize, Deserialize)]
struct Grant {
    session: SessionId,
    host: String,
}

impl SessionService {
    /// A fresh code, redeemable once within `handoff_code_ttl` (60 s) and only by `target_host`.
    pub async fn issue_handoff_code(
        &self,
        session: &Session,
        target_host: &str,
    ) -> Result<String, SessionError> {
        let code = random_token()?;
        let grant = Grant {
            session: session.id.clone(),
            host: normalise_host(target_host),
        };
        let value =
            serde_json::to_vec(&grant).map_err(|_| SessionError::Corrupt(CODE_PREFIX.into()))?;
        self.store
            .put(
                &format!("{CODE_PREFIX}{code}"),
                &value,
                Some(self.settings().handoff_code_ttl),
            )
            .await?;
        Ok(code)
    }

    /// Consumes `code` and, if it was issued for `host` and its session is still live,
    /// creates a NEW session (new id, same identity, strength and auth time) bound to
    /// `host`. Unknown, reused, expired or foreign-host codes give `None`.
    pub async fn redeem_handoff_code(
        &self,
        code: &str,
        host: &str,
    ) -> Result<Option<Session>, SessionError> {
        if !is_token(code) {
            return Ok(None);
        }
        let Some(value) = self.store.take(&format!("{CODE_PREFIX}{code}")).await? else {
            return Ok(None);
        };
        let Ok(grant) = serde_json::from_slice::<Grant>(&value) else {
            return Ok(None);
        };
        if grant.host != normalise_host(host) {
            return Ok(None);
        }
        let Some(origin) = self.get(&grant.session).await? else {
            return Ok(None);
        };
        let session = self
            .start(
                origin.identity,
                origin.strength,
                origin.auth_time,
                Some(grant.host),
            )
            .await?;
        Ok(Some(session))
    }
}

fn normalise_host(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}
