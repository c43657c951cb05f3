//! Command-line interface. The only room that uses `anyhow`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod audit;
mod check;
mod demo;
mod keys;
mod oidc;
mod pki;
mod policy;
mod serve;
mod users;
mod verify;

/// govgate — cổng an ninh định danh, đăng nhập một lần và chữ ký số cho chính quyền điện tử cấp tỉnh.
///
/// Identity, single sign-on and digital-signature gateway in front of a province's web
/// applications.
#[derive(Debug, Parser)]
#[command(name = "govgate", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway with a configuration file.
    Serve {
        /// Path to govgate.toml.
        #[arg(short, long, value_name = "FILE", env = "GOVGATE_CONFIG")]
        config: PathBuf,
    },
    /// Validate a configuration file and every file it references; exit 0 if good,
    /// 2 with one `file:line:column: key: message` line per problem otherwise.
    Check {
        #[arg(short, long, value_name = "FILE", env = "GOVGATE_CONFIG")]
        config: PathBuf,
    },
    /// Run a self-contained demo: two built-in apps behind the gateway on 127.0.0.1,
    /// HTTP on :8080 and HTTPS on :8443 with a generated development certificate.
    Demo {
        /// Where the demo keeps its state and generated certificate.
        #[arg(long, value_name = "DIR", default_value = "govgate-data")]
        data_dir: PathBuf,
        /// Plain HTTP address.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        http: std::net::SocketAddr,
        /// HTTPS address.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
        https: std::net::SocketAddr,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Manage users of the file directory backend (users.toml).
    Users {
        #[command(subcommand)]
        command: users::UsersCommand,
    },
    /// Access policies (chính sách truy cập): check, test, explain and format the Cedar
    /// policy set.
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// Signing keys (khóa ký): list, rotate, prune retired keys.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// OpenID Connect provider tools: client secrets.
    Oidc {
        #[command(subcommand)]
        command: oidc::OidcCommand,
    },
    /// Verify signed documents (kiểm tra chữ ký số): PDF, CMS/PKCS#7, XML and edXML,
    /// against the trust store. Exit 0 only when every file is TOTAL_PASSED.
    Verify(verify::VerifyArgs),
    /// Signature PKI (chữ ký số): trust store listing, development test PKI.
    Pki {
        #[command(subcommand)]
        command: pki::PkiCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check an audit log's hash chain: exit 0 if intact, 1 naming the first broken record.
    Verify {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Serve { config } => serve::run(config),
        Command::Check { config } => return check::run(config),
        Command::Audit {
            command: AuditCommand::Verify { file },
        } => return audit::verify(file),
        Command::Demo {
            data_dir,
            http,
            https,
        } => demo::run(
            data_dir,
            demo::DemoListeners {
                http: *http,
                https: *https,
            },
        ),
        Command::Users { command } => users::run(command),
        Command::Policy { command } => return policy::run(command),
        Command::Keys { command } => keys::run(command),
        Command::Oidc { command } => oidc::run(command),
        Command::Pki { command } => pki::run(command),
        Command::Verify(args) => return verify::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("govgate: {error:#}");
            ExitCode::FAILURE
        }
    }
}
