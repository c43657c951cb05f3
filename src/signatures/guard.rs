//! An app's signature guard (`[apps.require_signature]`): before a matching request is
//! forwarded, its body must carry a signature that verifies TOTAL_PASSED — an edXML
//! message, a signed PDF, an attached CMS file, a `multipart/form-data` body with
//! `signature` and `content` parts, or any body with its detached CMS signature in the
//! `X-Detached-Signature` header (base64 DER) — and, when the rule names them, every
//! signer must come from an accepted trust list, organisation and identifier.
//! Otherwise the request is answered 422 with the report and never reaches the app.
//!
//! The verified signer travels upstream in `X-Govgate-Signer-*` headers (percent-encoded
//! UTF-8, like the identity headers). That namespace is stripped from every client
//! request on the way in, and the guard removes its own names again before writing
//! them, so an app behind a guard can trust them.

use base64::Engine;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Method, Response, StatusCode};
use serde_json::json;

use super::multipart;
use super::SignatureService;
use crate::config::SignatureGuardConfig;
use crate::identity::headers::encode;
use crate::pki::{DocumentFormat, DocumentReport, SignatureReport};
use crate::portal::http::json;

/// The request header carrying a detached CMS signature over the body.
pub const DETACHED_SIGNATURE_HEADER: HeaderName = HeaderName::from_static("x-detached-signature");

const SIGNER: HeaderName = HeaderName::from_static("x-govgate-signer");
const SIGNER_ORGANISATION: HeaderName = HeaderName::from_static("x-govgate-signer-organisation");
const SIGNER_IDENTIFIERS: HeaderName = HeaderName::from_static("x-govgate-signer-identifiers");
const SIGNER_TRUST_LIST: HeaderName = HeaderName::from_static("x-govgate-signer-trust-list");
const SIGNER_CERTIFICATE: HeaderName =
    HeaderName::from_static("x-govgate-signer-certificate-sha256");
const SIGNATURE_FORMAT: HeaderName = HeaderName::from_static("x-govgate-signature-format");

/// Which requests a guard applies to and which signers it accepts.
#[derive(Debug, Clone)]
pub struct GuardRule {
    paths: Vec<String>,
    methods: Vec<Method>,
    formats: Vec<String>,
    trust_lists: Vec<String>,
    organisations: Vec<String>,
    identifiers: Vec<String>,
}

impl GuardRule {
    pub fn from_config(config: &SignatureGuardConfig) -> GuardRule {
        GuardRule {
            paths: config.paths.clone(),
            methods: config
                .methods
                .iter()
                .filter_map(|method| Method::from_bytes(method.as_bytes()).ok())
                .collect(),
            formats: config.formats.clone(),
            trust_lists: config.trust_lists.clone(),
            organisations: config.organisations.clone(),
            identifiers: config.identifiers.clone(),
        }
    }

    /// Whether a request with `method` to `path` must be signed.
    pub fn applies(&self, method: &Method, path: &str) -> bool {
        self.methods.contains(method)
            && (self.paths.is_empty() || self.paths.iter().any(|prefix| under(path, prefix)))
    }

    /// Why `report` (which passed) is still not acceptable, if it is not.
    fn refusal(&self, report: &DocumentReport) -> Option<String> {
        if !self.formats.is_empty() {
            let format = report.format.map(format_name).unwrap_or("unknown");
            if !self.formats.iter().any(|accepted| accepted == format) {
                return Some(format!(
                    "{format} documents are not accepted here (accepted: {})",
                    self.formats.join(", ")
                ));
            }
        }
        report
            .signatures
            .iter()
            .find_map(|signature| self.signer_refusal(signature))
    }

    fn signer_refusal(&self, signature: &SignatureReport) -> Option<String> {
        let Some(signer) = &signature.signer else {
            return Some(format!("{}: no signer certificate", signature.label));
        };
        let list = signature.trust_list.as_deref().unwrap_or("");
        if !self.trust_lists.is_empty() && !self.trust_lists.iter().any(|accepted| accepted == list)
        {
            return Some(format!(
                "{}: the chain ends in trust list {list:?}, not one of {:?}",
                signature.label, self.trust_lists
            ));
        }
        let organisation = signer.organisation.as_deref().unwrap_or("");
        if !self.organisations.is_empty()
            && !self
                .organisations
                .iter()
                .any(|accepted| accepted == organisation)
        {
            return Some(format!(
                "{}: organisation {organisation:?} is not accepted",
                signature.label
            ));
        }
        if !self.identifiers.is_empty()
            && !signer
                .identifiers
                .iter()
                .any(|id| self.identifiers.contains(id))
        {
            return Some(format!(
                "{}: none of the signer's identifiers {:?} is accepted",
                signature.label, signer.identifiers
            ));
        }
        None
    }
}

/// A guard in force on one app, for one request.
pub struct SignatureGuard<'a> {
    pub app: &'a str,
    pub rule: &'a GuardRule,
    pub service: &'a SignatureService,
}

/// A passed verdict, ready to be written upstream.
pub struct VerifiedSignature {
    report: DocumentReport,
}

impl SignatureGuard<'_> {
    /// Verifies a request's (already size-limited) body. `Err` is the 422 (or 400)
    /// answer to send instead of forwarding.
    pub async fn check(
        &self,
        headers: &HeaderMap,
        body: &Bytes,
        actor: &str,
        client_ip: Option<std::net::IpAddr>,
    ) -> Result<VerifiedSignature, Response<Bytes>> {
        let (document, detached) = submission(headers, body).map_err(|refused| *refused)?;
        let report = self
            .service
            .verify(document.clone(), detached, "request body")
            .await;
        self.service
            .record(
                actor,
                client_ip,
                format!("guard:{}", self.app),
                &document,
                &report,
            )
            .await;
        if !report.passed() {
            return Err(unprocessable(&report, None));
        }
        if let Some(reason) = self.rule.refusal(&report) {
            return Err(unprocessable(&report, Some(&reason)));
        }
        Ok(VerifiedSignature { report })
    }
}

impl VerifiedSignature {
    /// Writes the signer headers (of the first signature; for a PDF signed by a person
    /// and then by the organisation, that is the person) after removing any copies.
    pub fn apply(&self, headers: &mut HeaderMap) {
        for name in [
            &SIGNER,
            &SIGNER_ORGANISATION,
            &SIGNER_IDENTIFIERS,
            &SIGNER_TRUST_LIST,
            &SIGNER_CERTIFICATE,
            &SIGNATURE_FORMAT,
        ] {
            headers.remove(name);
        }
        let mut set = |name: &HeaderName, value: &str| {
            if let Ok(value) = HeaderValue::from_str(&encode(value, true)) {
                headers.insert(name.clone(), value);
            }
        };
        if let Some(format) = self.report.format {
            set(&SIGNATURE_FORMAT, format_name(format));
        }
        let first = self.report.signatures.first();
        if let Some(signer) = first.and_then(|signature| signature.signer.as_ref()) {
            set(
                &SIGNER,
                signer.common_name.as_deref().unwrap_or(&signer.subject),
            );
            if let Some(organisation) = &signer.organisation {
                set(&SIGNER_ORGANISATION, organisation);
            }
            set(&SIGNER_IDENTIFIERS, &signer.identifiers.join(","));
            set(
                &SIGNER_CERTIFICATE,
                &signer.sha256_fingerprint.replace(':', ""),
            );
        }
        if let Some(list) = first.and_then(|signature| signature.trust_list.as_deref()) {
            set(&SIGNER_TRUST_LIST, list);
        }
    }
}

/// The document and, for a detached signature, the content, from the request.
fn submission(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Bytes, Option<Bytes>), Box<Response<Bytes>>> {
    if let Some(signature) = headers.get(DETACHED_SIGNATURE_HEADER) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(signature.as_bytes())
            .map_err(|_| Box::new(bad_request("X-Detached-Signature is not base64")))?;
        return Ok((Bytes::from(decoded), Some(body.clone())));
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    match multipart::boundary(content_type) {
        None => Ok((body.clone(), None)),
        Some(boundary) => {
            let boundary =
                boundary.map_err(|problem| Box::new(bad_request(&problem.to_string())))?;
            let parts = multipart::parse(body, &boundary)
                .map_err(|problem| Box::new(bad_request(&problem.to_string())))?;
            let part = |name: &str| {
                parts
                    .iter()
                    .find(|part| part.name == name)
                    .map(|part| part.data.clone())
            };
            match (part("signature"), part("content")) {
                (Some(signature), Some(content)) => Ok((signature, Some(content))),
                _ => Err(Box::new(bad_request(
                    "a signed multipart body has a signature part and a content part",
                ))),
            }
        }
    }
}

fn unprocessable(report: &DocumentReport, reason: Option<&str>) -> Response<Bytes> {
    let body = json!({
        "error": "signature_required",
        "message": reason.unwrap_or("the request body does not carry a valid signature"),
        "report": report,
    });
    json(StatusCode::UNPROCESSABLE_ENTITY, &body)
}

fn bad_request(message: &str) -> Response<Bytes> {
    json(
        StatusCode::BAD_REQUEST,
        &json!({ "error": "bad_request", "message": message }),
    )
}

fn format_name(format: DocumentFormat) -> &'static str {
    match format {
        DocumentFormat::Cms => "cms",
        DocumentFormat::Pdf => "pdf",
        DocumentFormat::Xml => "xml",
        DocumentFormat::Edxml => "edxml",
    }
}

/// `path` is `prefix` or below it, on a segment boundary (`/a` covers `/a/b`, not `/ab`).
fn under(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> GuardRule {
        GuardRule::from_config(&SignatureGuardConfig {
            paths: vec!["/lien-thong".into()],
            methods: vec!["POST".into()],
            formats: vec![],
            trust_lists: vec!["government".into()],
            organisations: vec![],
            identifiers: vec![],
        })
    }

    #[test]
    fn the_guard_applies_to_its_methods_and_paths_only() {
        let rule = rule();
        assert!(rule.applies(&Method::POST, "/lien-thong"));
        assert!(rule.applies(&Method::POST, "/lien-thong/gui"));
        assert!(!rule.applies(&Method::POST, "/lien-thongx"));
        assert!(!rule.applies(&Method::GET, "/lien-thong/gui"));
    }

    #[test]
    fn a_detached_signature_header_must_be_base64() {
        let mut headers = HeaderMap::new();
        headers.insert(
            DETACHED_SIGNATURE_HEADER,
            HeaderValue::from_static("not base64!"),
        );
        let refused = submission(&headers, &Bytes::from_static(b"x")).unwrap_err();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    }
}
