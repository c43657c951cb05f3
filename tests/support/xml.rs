//! `xmlsec1` and `xmllint` as the independent XML-DSig and canonical XML references.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Signs `template` (an xmlsec1 signature template) with `key` and the certificates in
/// `certs` (PEM; the first is the signer's, the rest go into KeyInfo too). `id_attrs`
/// are xmlsec1 `--id-attr` registrations (`Id`, `urn:ns:Element`): xmlsec1 resolves
/// `#id` URIs only through attributes it was told are ids.
pub fn xmlsec_sign(
    template: &Path,
    key: &Path,
    certs: &[&Path],
    id_attrs: &[(&str, &str)],
    out: &Path,
) {
    let mut keys = key.display().to_string();
    for cert in certs {
        keys.push(',');
        keys.push_str(&cert.display().to_string());
    }
    let mut command = Command::new("xmlsec1");
    command.arg("--sign");
    for (attribute, node) in id_attrs {
        command.arg(format!("--id-attr:{attribute}")).arg(node);
    }
    let output = command
        .arg("--privkey-pem")
        .arg(keys)
        .arg("--output")
        .arg(out)
        .arg(template)
        .output()
        .expect("xmlsec1 is installed by scripts/test");
    assert!(
        output.status.success(),
        "xmlsec1 --sign {}: {}",
        template.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `xmlsec1 --verify` with `trusted` roots and `untrusted` intermediates; true when it
/// accepts the file.
pub fn xmlsec_verify(
    file: &Path,
    trusted: &[PathBuf],
    untrusted: &[PathBuf],
    id_attrs: &[(&str, &str)],
) -> bool {
    let mut command = Command::new("xmlsec1");
    command.arg("--verify");
    for root in trusted {
        command.arg("--trusted-pem").arg(root);
    }
    for intermediate in untrusted {
        command.arg("--untrusted-pem").arg(intermediate);
    }
    for (attribute, node) in id_attrs {
        command.arg(format!("--id-attr:{attribute}")).arg(node);
    }
    let output = command
        .arg(file)
        .output()
        .expect("xmlsec1 is installed by scripts/test");
    output.status.success()
}

/// Which canonicalization `xmllint` applies (always with comments: that is what its
/// `--c14n` / `--exc-c14n` options produce).
#[derive(Debug, Clone, Copy)]
pub enum XmllintC14n {
    Inclusive,
    Exclusive,
}

/// `xmllint --c14n` / `--exc-c14n` of `file`: the whole document, with comments.
pub fn xmllint_c14n(file: &Path, method: XmllintC14n) -> Vec<u8> {
    let flag = match method {
        XmllintC14n::Inclusive => "--c14n",
        XmllintC14n::Exclusive => "--exc-c14n",
    };
    let output = Command::new("xmllint")
        .arg(flag)
        .arg(file)
        .output()
        .expect("xmllint (libxml2-utils) is installed by scripts/test");
    assert!(
        output.status.success(),
        "xmllint {flag} {}: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}
