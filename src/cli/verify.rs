//! `govgate verify FILE…`: verifies signed documents (PDF, CMS/PKCS#7, XML / edXML)
//! against the trust store and prints one report per file. Exit code 0 only when every
//! file is TOTAL_PASSED, 1 when any is not, 2 when the run itself could not start
//! (bad option, unreadable trust store).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use anyhow::{bail, Context};
use clap::Args;

use crate::pki::bundle::decode_certificates;
use crate::pki::context::ContextOptions;
use crate::pki::document::verify_document;
use crate::pki::text::{self, ReportLanguage};
use crate::pki::{DocumentReport, StreamedContent, VerifyContext};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Signed files: PDF, CMS/PKCS#7 (.p7s, .p7m; DER or PEM), XML or edXML. With
    /// --detached, exactly one: the signed content.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// A detached CMS signature over FILE.
    #[arg(long, value_name = "SIG")]
    detached: Option<PathBuf>,
    /// The trust-store directory (trust/<list>/ and intermediates/).
    #[arg(
        long,
        value_name = "DIR",
        env = "GOVGATE_TRUST_DIR",
        default_value = "certs"
    )]
    trust_dir: PathBuf,
    /// Also trust the anchors in this PEM/DER/PKCS#7 file, for this run only (trust
    /// list "command-line"). Repeatable.
    #[arg(long, value_name = "PEM")]
    trust: Vec<PathBuf>,
    /// Trust only --trust anchors: ignore the trust-store directory.
    #[arg(long, requires = "trust")]
    no_trust_dir: bool,
    /// Intermediate CA certificates path building may use. Repeatable.
    #[arg(long, value_name = "PEM")]
    intermediates: Vec<PathBuf>,
    /// Local CRL files (PEM or DER), besides those in the trust store's crl/. Repeatable.
    #[arg(long, value_name = "PEM")]
    crl: Vec<PathBuf>,
    /// Use only local revocation data (--crl): fetch no CRL and ask no OCSP responder.
    #[arg(long)]
    offline: bool,
    /// Validate at this time (RFC 3339, e.g. 2026-06-30T09:00:00+07:00) instead of now,
    /// unless a trusted timestamp proves an earlier time.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    at: Option<SystemTime>,
    /// Accept SHA-1 and RSA keys from 1024 bits (documents from before Circular
    /// 15/2025). Off by default: they are CRYPTO_CONSTRAINTS_FAILURE.
    #[arg(long)]
    legacy_crypto: bool,
    /// Print the reports as JSON (an array, one report per file).
    #[arg(long)]
    json: bool,
    /// Language of the text report: vi (default) or en.
    #[arg(long, value_name = "LANG", default_value = "vi")]
    lang: String,
}

pub fn run(args: &VerifyArgs) -> ExitCode {
    let reports = match verify_all(args) {
        Ok(reports) => reports,
        Err(error) => {
            eprintln!("govgate verify: {error:#}");
            return ExitCode::from(2);
        }
    };
    if let Err(error) = print_reports(args, &reports) {
        eprintln!("govgate verify: {error:#}");
        return ExitCode::from(2);
    }
    match reports.iter().all(DocumentReport::passed) {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    }
}

fn verify_all(args: &VerifyArgs) -> anyhow::Result<Vec<DocumentReport>> {
    let ctx = context(args)?;
    if let Some(signature) = &args.detached {
        let [content] = args.files.as_slice() else {
            bail!("--detached takes exactly one FILE: the signed content");
        };
        return Ok(vec![verify_detached(&ctx, signature, content)]);
    }
    Ok(verify_files(&ctx, &args.files))
}

fn context(args: &VerifyArgs) -> anyhow::Result<VerifyContext> {
    let mut options = ContextOptions {
        trust_dir: (!args.no_trust_dir).then(|| args.trust_dir.clone()),
        crl_files: args.crl.clone(),
        offline: args.offline,
        legacy_crypto: args.legacy_crypto,
        at: args.at,
        ..ContextOptions::default()
    };
    for path in &args.trust {
        options.extra_anchors.extend(read_certificates(path)?);
    }
    for path in &args.intermediates {
        options.extra_intermediates.extend(read_certificates(path)?);
    }
    let (ctx, warnings) =
        VerifyContext::build(&options).with_context(|| match args.no_trust_dir {
            true => "setting up verification".to_string(),
            false => format!("setting up verification with {}", args.trust_dir.display()),
        })?;
    for warning in warnings {
        eprintln!("govgate verify: warning: {warning}");
    }
    Ok(ctx)
}

fn read_certificates(path: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    decode_certificates(&bytes).with_context(|| format!("decoding {}", path.display()))
}

fn verify_detached(ctx: &VerifyContext, signature: &Path, content: &Path) -> DocumentReport {
    let name = content.display().to_string();
    let signature_bytes = match std::fs::read(signature) {
        Ok(bytes) => bytes,
        Err(error) => return unreadable(&signature.display().to_string(), &error),
    };
    let file = match std::fs::File::open(content) {
        Ok(file) => file,
        Err(error) => return unreadable(&name, &error),
    };
    // The content is streamed through the digests: a 1 GB file costs no memory.
    let mut streamed = StreamedContent::new(file);
    verify_document(ctx, &signature_bytes, Some(&mut streamed), &name)
}

/// Verifies files on every core, keeping the reports in the order given.
fn verify_files(ctx: &VerifyContext, files: &[PathBuf]) -> Vec<DocumentReport> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<DocumentReport>>> =
        files.iter().map(|_| Mutex::new(None)).collect();
    let progress = Progress::new(files.len());
    let workers = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .min(files.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let (Some(path), Some(slot)) = (files.get(index), slots.get(index)) else {
                    break;
                };
                let report = verify_file(ctx, path);
                *slot.lock().unwrap_or_else(|poison| poison.into_inner()) = Some(report);
                progress.advance(done.fetch_add(1, Ordering::Relaxed) + 1, path);
            });
        }
    });
    progress.finish();
    slots
        .into_iter()
        .zip(files)
        .map(|(slot, path)| {
            slot.into_inner()
                .unwrap_or_else(|poison| poison.into_inner())
                .unwrap_or_else(|| unreadable_text(&path.display().to_string(), "not verified"))
        })
        .collect()
}

fn verify_file(ctx: &VerifyContext, path: &Path) -> DocumentReport {
    let name = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => verify_document(ctx, &bytes, None, &name),
        Err(error) => unreadable(&name, &error),
    }
}

fn unreadable(name: &str, error: &std::io::Error) -> DocumentReport {
    unreadable_text(name, &format!("cannot read the file: {error}"))
}

fn unreadable_text(name: &str, detail: &str) -> DocumentReport {
    DocumentReport::unreadable(
        name,
        None,
        crate::pki::ChainFailure::new(crate::pki::SubIndication::FormatFailure, detail),
    )
}

fn print_reports(args: &VerifyArgs, reports: &[DocumentReport]) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, reports)?;
        writeln!(out)?;
        return Ok(());
    }
    let language = ReportLanguage::from_code(&args.lang);
    for report in reports {
        out.write_all(text::render(report, language).as_bytes())?;
    }
    Ok(())
}

/// `[12/300] path` on one terminal line while many files are checked; silent when
/// stderr is not a terminal or there is one file.
struct Progress {
    total: usize,
    shown: bool,
}

impl Progress {
    fn new(total: usize) -> Progress {
        Progress {
            total,
            shown: total > 1 && std::io::stderr().is_terminal(),
        }
    }

    fn advance(&self, done: usize, path: &Path) {
        if self.shown {
            let width = 40;
            let filled = done * width / self.total.max(1);
            eprint!(
                "\r\x1b[2K[{}{}] {done}/{} {}",
                "#".repeat(filled),
                "-".repeat(width - filled),
                self.total,
                path.display()
            );
        }
    }

    fn finish(&self) {
        if self.shown {
            eprint!("\r\x1b[2K");
        }
    }
}

fn parse_time(text: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339_weak(text)
        .or_else(|_| {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map(SystemTime::from)
                .map_err(|error| error.to_string())
        })
        .map_err(|error| format!("not an RFC 3339 time ({error}): e.g. 2026-06-30T09:00:00+07:00"))
}
