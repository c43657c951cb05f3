//! `POST /api/v1/signatures/verify`: a document handler (or a system acting for one)
//! submits a signed file and gets the report back as JSON.
//!
//! The body is the document itself (`application/pdf`, `application/pkcs7-mime`,
//! `application/xml`, ... — the type is recognised from the bytes, the header is not
//! trusted), or `multipart/form-data` with a `signature` part (a detached CMS signature)
//! and a `content` part, or a single `document` part. The caller is a logged-in user
//! whom the access policies grant `signature_verify` (any logged-in user when no
//! policies are configured). The answer is 200 with the report whatever the verdict:
//! the request succeeded in getting one. Every verdict is audited.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::json;

use super::multipart::{self, Part};
use super::SignatureService;
use crate::policy::{AdminAction, Target};
use crate::portal::http::json;
use crate::proxy::admit::{Authorizer, RouteRequest};
use crate::session::{Session, SessionService};

/// The API's path.
pub const VERIFY_PATH: &str = "/api/v1/signatures/verify";

pub struct SignatureApi {
    pub service: Arc<SignatureService>,
    pub sessions: Arc<SessionService>,
    /// Decides `signature_verify` when `[policy]` is configured.
    pub authorizer: Option<Authorizer>,
}

/// What the request submitted.
struct Submission {
    document: Bytes,
    detached: Option<Bytes>,
}

impl SignatureApi {
    pub async fn handle(&self, request: Request<Incoming>, client_ip: IpAddr) -> Response<Bytes> {
        if request.method() != Method::POST {
            let mut response = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "use POST",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, http::HeaderValue::from_static("POST"));
            return response;
        }
        let session = match self.session(request.headers()).await {
            Some(session) => session,
            None => return error(StatusCode::UNAUTHORIZED, "unauthorized", "log in first"),
        };
        if !self.may_verify(&session, client_ip) {
            return error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the access policies do not allow signature_verify",
            );
        }
        let (parts, body) = request.into_parts();
        let submission = match self.read_submission(&parts.headers, body).await {
            Ok(submission) => submission,
            Err(response) => return response,
        };
        let report = self
            .service
            .verify(
                submission.document.clone(),
                submission.detached,
                "request body",
            )
            .await;
        self.service
            .record(
                &session.identity.username,
                Some(client_ip),
                "api".into(),
                &submission.document,
                &report,
            )
            .await;
        match serde_json::to_value(&report) {
            Ok(value) => json(StatusCode::OK, &value),
            Err(_) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the report could not be encoded",
            ),
        }
    }

    async fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let id = self.sessions.session_id_from(headers)?;
        self.sessions.get(&id).await.ok().flatten()
    }

    fn may_verify(&self, session: &Session, client_ip: IpAddr) -> bool {
        let Some(authorizer) = &self.authorizer else {
            return true;
        };
        let request = RouteRequest {
            app: "",
            method: "POST",
            path: VERIFY_PATH,
            client_ip,
            signed: false,
            worker: 0,
        };
        authorizer
            .decide(
                session,
                Target::Admin(AdminAction::SignatureVerify),
                &request,
            )
            .allowed
    }

    async fn read_submission(
        &self,
        headers: &HeaderMap,
        body: Incoming,
    ) -> Result<Submission, Response<Bytes>> {
        let limit = self.service.max_document();
        let body = match Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(failure)
                if failure
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                return Err(error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    &format!("documents up to {limit} bytes are accepted"),
                ));
            }
            Err(_) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "the body could not be read",
                ))
            }
        };
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        match multipart::boundary(content_type) {
            None => Ok(Submission {
                document: body,
                detached: None,
            }),
            Some(Err(problem)) => Err(error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &problem.to_string(),
            )),
            Some(Ok(boundary)) => match multipart::parse(&body, &boundary) {
                Ok(parts) => from_parts(parts).map_err(|refused| *refused),
                Err(problem) => Err(error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    &problem.to_string(),
                )),
            },
        }
    }
}

/// `signature` + `content` (detached), or `document` alone.
fn from_parts(parts: Vec<Part>) -> Result<Submission, Box<Response<Bytes>>> {
    let mut document = None;
    let mut signature = None;
    let mut content = None;
    for part in parts {
        let slot = match part.name.as_str() {
            "document" => &mut document,
            "signature" => &mut signature,
            "content" => &mut content,
            other => {
                let message =
                    format!("unknown part {other:?}: send document, or signature and content");
                return Err(Box::new(error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    &message,
                )));
            }
        };
        if slot.replace(part.data).is_some() {
            return Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "a part is repeated",
            )));
        }
    }
    match (document, signature, content) {
        (Some(document), None, None) => Ok(Submission {
            document,
            detached: None,
        }),
        (None, Some(signature), Some(content)) => Ok(Submission {
            document: signature,
            detached: Some(content),
        }),
        _ => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send a document part, or a signature part with a content part",
        ))),
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Bytes> {
    json(status, &json!({ "error": code, "message": message }))
}
