//! The file directory backend: hashes made by the real `govgate users hash-password`,
//! the shipped demo users, wrong passwords, disabled and unknown users.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use govgate::config::{DirectoryBackend, DirectoryConfig, FileDirectoryConfig};
use govgate::directory::{self, DirectoryError, SharedDirectory};

/// Runs `govgate users hash-password` with `stdin`; (exit success, stdout, stderr).
fn hash_password_cli(stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_govgate"))
        .args(["users", "hash-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

async fn open_file(path: &Path) -> Result<SharedDirectory, DirectoryError> {
    directory::open(&DirectoryConfig {
        backend: DirectoryBackend::File,
        ldap: None,
        file: Some(FileDirectoryConfig {
            path: path.to_path_buf(),
        }),
    })
    .await
}

fn write_users(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("users.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "current_thread")]
async fn a_hash_from_the_cli_logs_in_and_wrong_disabled_unknown_do_not() {
    let (ok, stdout, stderr) = hash_password_cli("Bí-mật@2024\n");
    assert!(ok, "{stderr}");
    let hash = stdout.trim();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(
        !stdout.contains("Bí-mật"),
        "the password must not be echoed"
    );
    let dir = tempfile::tempdir().unwrap();
    let users = format!(
        r#"[[users]]
username = "nthang"
display_name = "Nguyễn Thị Hằng"
email = "hang.nt@namdinh.gov.vn"
department = "Sở Nội vụ"
employee_number = "NV-0500"
groups = ["chuyen-vien", "mot-cua"]
password_hash = "{hash}"

[[users]]
username = "khoa"
display_name = "Lê Văn Khoa"
password_hash = "{hash}"
disabled = true
"#
    );
    let directory = open_file(&write_users(dir.path(), &users)).await.unwrap();
    assert_eq!(directory.kind(), "file");
    let identity = directory
        .authenticate("nthang", "Bí-mật@2024")
        .await
        .unwrap();
    assert_eq!(identity.display_name, "Nguyễn Thị Hằng");
    assert_eq!(identity.email.as_deref(), Some("hang.nt@namdinh.gov.vn"));
    assert_eq!(identity.department.as_deref(), Some("Sở Nội vụ"));
    assert_eq!(identity.employee_number.as_deref(), Some("NV-0500"));
    assert_eq!(identity.groups, ["chuyen-vien", "mot-cua"]);
    assert_eq!(identity.subject, "file:nthang");
    assert_eq!(identity.source, "file");

    for (username, password) in [
        ("nthang", "Bí-mật@2025"),
        ("nthang", "bí-mật@2024"),
        ("khongtontai", "Bí-mật@2024"),
        ("nthang", ""),
        ("nthang", "   "),
        ("nthang\0", "Bí-mật@2024"),
        ("khoa", "sai"),
    ] {
        let outcome = directory.authenticate(username, password).await;
        assert!(
            matches!(outcome, Err(DirectoryError::InvalidCredentials)),
            "{username:?}/{password:?}: {outcome:?}"
        );
    }
    assert!(matches!(
        directory.authenticate("khoa", "Bí-mật@2024").await,
        Err(DirectoryError::AccountDisabled)
    ));
    assert_eq!(
        directory.lookup("nthang").await.unwrap().unwrap().username,
        "nthang"
    );
    assert_eq!(directory.lookup("khongtontai").await.unwrap(), None);
    assert!(matches!(
        directory.lookup("khoa").await,
        Err(DirectoryError::AccountDisabled)
    ));
    directory.health().await.unwrap();
}

#[test]
fn hash_password_refuses_a_blank_password_and_salts_each_hash() {
    for blank in ["\n", "", "   \n"] {
        let (ok, stdout, stderr) = hash_password_cli(blank);
        assert!(!ok, "blank {blank:?} accepted: {stdout}");
        assert!(stdout.is_empty());
        assert!(stderr.contains("empty"), "{stderr}");
    }
    let (_, first, _) = hash_password_cli("same\n");
    let (_, second, _) = hash_password_cli("same\n");
    assert_ne!(first, second, "each hash needs its own salt");
}

#[tokio::test(flavor = "current_thread")]
async fn the_shipped_demo_users_log_in_with_their_documented_passwords() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/users.toml");
    let directory = open_file(&path).await.unwrap();
    for (username, password, group) in [
        ("nvan", "LanhDao@2024", "lanh-dao"),
        ("tthang", "ChuyenVien@2024", "chuyen-vien"),
        ("lvcuong", "VanThu@2024", "van-thu"),
        ("pthoa", "MotCua@2024", "mot-cua"),
        ("dmquan", "QuanTri@2024", "quan-tri"),
    ] {
        let identity = directory.authenticate(username, password).await.unwrap();
        assert!(identity.groups.contains(&group.to_string()), "{username}");
        assert!(matches!(
            directory.authenticate(username, "MatKhau@2024").await,
            Err(DirectoryError::InvalidCredentials)
        ));
    }
    assert!(matches!(
        directory.authenticate("hvduc", "ChuyenVien@2024").await,
        Err(DirectoryError::AccountDisabled)
    ));
}

#[tokio::test(flavor = "current_thread")]
async fn bad_users_files_are_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (_, hash, _) = hash_password_cli("x\n");
    let hash = hash.trim();
    let cases = [
        ("[[users]]\nusername = \"a\"\ndisplay_name = \"A\"\npassword_hash = \"plain\"\n".to_string(), "Argon2id"),
        (format!("[[users]]\nusername = \"a\"\ndisplay_name = \"A\"\npassword_hash = \"{hash}\"\nrole = \"x\"\n"), "unknown field"),
        (format!("[[users]]\nusername = \"a\"\ndisplay_name = \"A\"\npassword_hash = \"{hash}\"\n[[users]]\nusername = \"a\"\ndisplay_name = \"B\"\npassword_hash = \"{hash}\"\n"), "twice"),
    ];
    for (text, expected) in cases {
        let outcome = open_file(&write_users(dir.path(), &text)).await;
        match outcome {
            Err(DirectoryError::Config(message)) => {
                assert!(message.contains(expected), "{message}")
            }
            Err(other) => panic!("expected a Config error, got {other:?}"),
            Ok(_) => panic!("accepted: {text}"),
        }
    }
    assert!(matches!(
        open_file(&dir.path().join("missing.toml")).await,
        Err(DirectoryError::Config(_))
    ));
}
