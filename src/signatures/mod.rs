//! Signed-document verification as a gateway service: the HTTP API
//! (`POST /api/v1/signatures/verify`, [`api`]) and the apps' signature guards
//! ([`guard`]). Both hand documents to [`crate::pki::document`] through one
//! [`SignatureService`], so a file gets the same verdict whichever way it arrives,
//! and both audit every verdict.
//!
//! Verification is CPU work (hashing, RSA, path building): it runs on tokio's blocking
//! pool, never on a proxy worker's event loop.

pub mod api;
pub mod guard;
mod multipart;

use std::net::IpAddr;

use bytes::Bytes;

use crate::audit::{AuditEvent, AuditLog};
use crate::config::SignaturesConfig;
use crate::pki::context::ContextOptions;
use crate::pki::document::verify_document;
use crate::pki::report::standard_code;
use crate::pki::{ChainFailure, DocumentReport, SubIndication, VerifyContext};

/// Why the signature service could not start.
pub type SignaturesSetupError = crate::pki::context::ContextError;

/// What the API and the guards verify with.
pub struct SignatureService {
    ctx: VerifyContext,
    max_document: usize,
    audit: AuditLog,
}

impl SignatureService {
    pub fn from_config(
        config: &SignaturesConfig,
        audit: AuditLog,
    ) -> Result<SignatureService, SignaturesSetupError> {
        let options = ContextOptions {
            trust_dir: Some(config.trust_dir.clone()),
            crl_files: config.crls.clone(),
            offline: config.offline,
            legacy_crypto: config.legacy_crypto,
            ..ContextOptions::default()
        };
        let (ctx, warnings) = VerifyContext::build(&options)?;
        for warning in warnings {
            tracing::warn!(%warning, "trust store file not used");
        }
        Ok(SignatureService {
            ctx,
            max_document: usize::try_from(config.max_document.bytes()).unwrap_or(usize::MAX),
            audit,
        })
    }

    /// The largest document (or detached content) accepted.
    pub fn max_document(&self) -> usize {
        self.max_document
    }

    /// Verifies `document` (with `detached` content for a detached CMS signature) on
    /// the blocking pool.
    pub async fn verify(
        &self,
        document: Bytes,
        detached: Option<Bytes>,
        name: &str,
    ) -> DocumentReport {
        let ctx = self.ctx.clone();
        let task_name = name.to_string();
        let task = tokio::task::spawn_blocking(move || {
            let mut content = detached.as_deref();
            let content = content
                .as_mut()
                .map(|content| content as &mut dyn crate::pki::SignedContent);
            verify_document(&ctx, &document, content, &task_name)
        });
        match task.await {
            Ok(report) => report,
            Err(error) => {
                tracing::error!(%error, "signature verification task failed");
                DocumentReport::unreadable(
                    name,
                    None,
                    ChainFailure::new(SubIndication::TryLater, "verification did not complete"),
                )
            }
        }
    }

    /// Writes the verdict to the audit log.
    pub async fn record(
        &self,
        actor: &str,
        client_ip: Option<IpAddr>,
        via: String,
        document: &[u8],
        report: &DocumentReport,
    ) {
        let event = AuditEvent::SignatureChecked {
            actor: actor.to_string(),
            client_ip,
            via,
            document_sha256: hex(&crate::pki::DigestAlgorithm::Sha256.digest(document)),
            indication: standard_code(&report.indication),
            sub_indication: report.sub_indication.as_ref().map(standard_code),
            signers: report
                .signatures
                .iter()
                .filter_map(|signature| signature.signer.as_ref())
                .map(|signer| signer.subject.clone())
                .collect(),
        };
        if let Err(error) = self.audit.record(event).await {
            tracing::error!(%error, "audit log write failed for a signature verdict");
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
