//! Phase 2b, for apps with a signature guard: read the body (bounded by the app's and
//! the signature service's limits, with the usual read deadline), have it verified,
//! and either refuse the request (422 with the report) or forward the bytes read
//! together with the verified signer's headers. Requests the guard does not cover
//! stream through untouched.

use bytes::Bytes;
use http::request::Parts;
use http::Request;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;

use super::body::{RequestBody, RequestBodyError, ResponseBody};
use super::table::App;
use super::{websocket, ProxySettings, Refusal};
use crate::pages::ErrorPage;
use crate::signatures::guard::{GuardRule, SignatureGuard, VerifiedSignature};
use crate::signatures::SignatureService;

/// A request past the guard phase, split into its head and its body.
pub(super) struct Checked {
    parts: Parts,
    body: Body,
    upgrade: Option<OnUpgrade>,
}

pub(super) enum Body {
    Streaming(Incoming),
    /// Read in full and verified.
    Verified(Bytes, VerifiedSignature),
}

/// What the guard needs besides the request.
pub(super) struct GuardCall<'a> {
    pub service: Option<&'a SignatureService>,
    pub app: &'a App,
    pub rule: &'a GuardRule,
    pub settings: &'a ProxySettings,
    /// Who sent it (the user, or `-` on a public app), for the audit log.
    pub actor: &'a str,
    pub client_ip: std::net::IpAddr,
}

impl Checked {
    /// A request the guard does not cover.
    pub fn streaming(mut request: Request<Incoming>, app: &App) -> Checked {
        let upgrade = (app.websocket && websocket::is_websocket_upgrade(request.headers()))
            .then(|| hyper::upgrade::on(&mut request));
        let (parts, body) = request.into_parts();
        Checked {
            parts,
            body: Body::Streaming(body),
            upgrade,
        }
    }

    pub fn head(&self) -> &Parts {
        &self.parts
    }

    pub fn into_parts(self) -> (Parts, Body, Option<OnUpgrade>) {
        (self.parts, self.body, self.upgrade)
    }
}

/// Reads and verifies the body of a request the guard covers.
pub(super) async fn check(
    call: GuardCall<'_>,
    request: Request<Incoming>,
) -> Result<Checked, Refusal> {
    let Some(service) = call.service else {
        tracing::error!(app = %call.app.id, "a signature guard is configured but [signatures] is not");
        return Err(Refusal::Page(ErrorPage::ServiceUnavailable));
    };
    let (parts, body) = request.into_parts();
    let limit = call.app.max_body.min(service.max_document() as u64);
    let bytes = RequestBody::new(body, limit, call.settings.body_read_timeout)
        .collect()
        .await
        .map_err(|error| match error {
            RequestBodyError::TooLarge { .. } => Refusal::Page(ErrorPage::PayloadTooLarge),
            RequestBodyError::ReadTimeout(_) | RequestBodyError::Client(_) => {
                Refusal::Page(ErrorPage::BadRequest)
            }
        })?
        .to_bytes();
    let guard = SignatureGuard {
        app: &call.app.id,
        rule: call.rule,
        service,
    };
    match guard
        .check(&parts.headers, &bytes, call.actor, Some(call.client_ip))
        .await
    {
        Ok(verified) => Ok(Checked {
            parts,
            body: Body::Verified(bytes, verified),
            upgrade: None,
        }),
        Err(response) => Err(Refusal::Respond(Box::new(response.map(ResponseBody::full)))),
    }
}
