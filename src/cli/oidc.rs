//! `govgate oidc …`: tools for registering OpenID Connect clients.

use anyhow::anyhow;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use clap::Subcommand;

/// Random bytes in a client secret (256 bits: 43 base64url characters).
const SECRET_BYTES: usize = 32;

#[derive(Debug, Subcommand)]
pub enum OidcCommand {
    /// Make a client secret: print a fresh random secret and its SHA-256.
    ///
    /// Line 1 on stdout is the secret (43 base64url characters, 256 random bits): give it to
    /// the client's operator, who configures it as the client's `client_secret`. Line 2,
    /// `secret_sha256 = "…"`, goes into the client's `[[oidc.clients]]` entry of
    /// govgate.toml. The gateway stores only the digest, never the secret: keep no other copy,
    /// and if it is lost, make a new one (and replace the digest).
    Secret,
}

pub fn run(command: &OidcCommand) -> anyhow::Result<()> {
    match command {
        OidcCommand::Secret => {
            let secret = new_secret()?;
            println!("{secret}");
            println!("secret_sha256 = \"{}\"", sha256_hex(secret.as_bytes()));
            eprintln!(
                "Give the first line (the client_secret) to the client; paste the second into its [[oidc.clients]] entry. The gateway does not store the secret."
            );
            Ok(())
        }
    }
}

fn new_secret() -> anyhow::Result<String> {
    let mut bytes = [0u8; SECRET_BYTES];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| anyhow!("no random numbers available"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn sha256_hex(data: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_43_base64url_characters_and_fresh() {
        let (a, b) = (new_secret().unwrap(), new_secret().unwrap());
        assert_eq!(a.len(), 43);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a, b);
    }

    #[test]
    fn sha256_hex_matches_a_known_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
