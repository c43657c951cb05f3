//! The LDAP directory backend against a real slapd: a 100+ user province seed with
//! Vietnamese names, nested and cyclic groups, an escaped DN, a locked account, injection
//! attempts, failover, outages, StartTLS and LDAPS.

mod support;

use std::path::Path;
use std::time::Duration;

use govgate::directory::{self, DirectoryError, SharedDirectory};
use support::slapd::{Slapd, SlapdOptions, ADMIN_DN, ADMIN_PASSWORD, GROUPS_DN, PEOPLE_DN};

const PASSWORD: &str = "MatKhau@2024";
/// Nguyễn Thị Hằng: member of phong-to-chuc ⊂ so-noi-vu ⊂ ubnd-tinh, and of a cycle.
const HANG: &str = "nthang";
/// The locked account (`pwdAccountLockedTime`).
const LOCKED: &str = "lvkhoa";
/// The entry whose DN holds an escaped comma and a multi-valued RDN.
const BINH_DN: &str = r"cn=Trần Văn Bình\, Phó GĐ+uid=tvbinh,ou=people,dc=namdinh,dc=gov,dc=vn";

const SURNAMES: [&str; 10] = [
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
];
const MIDDLE: [&str; 5] = ["Văn", "Thị", "Đức", "Minh", "Ngọc"];
const GIVEN: [&str; 11] = [
    "Anh", "Bảo", "Cường", "Dũng", "Giang", "Hải", "Khánh", "Linh", "Phương", "Quỳnh", "Tuấn",
];

fn person(uid: &str, cn: &str, number: usize, extra: &str) -> String {
    let surname = cn.split(' ').next().unwrap_or(cn);
    format!(
        "dn: uid={uid},{PEOPLE_DN}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {cn}\nsn: {surname}\n\
         displayName: {cn}\nmail: {uid}@namdinh.gov.vn\ndepartmentNumber: Sở Nội vụ\n\
         employeeNumber: NV-{number:04}\nuserPassword: {PASSWORD}\n{extra}\n"
    )
}

fn group(cn: &str, members: &[String]) -> String {
    let mut ldif = format!("dn: cn={cn},{GROUPS_DN}\nobjectClass: groupOfNames\ncn: {cn}\n");
    for member in members {
        ldif.push_str(&format!("member: {member}\n"));
    }
    ldif + "\n"
}

fn user_dn(uid: &str) -> String {
    format!("uid={uid},{PEOPLE_DN}")
}

fn group_dn(cn: &str) -> String {
    format!("cn={cn},{GROUPS_DN}")
}

/// 110 generated civil servants, Nguyễn Thị Hằng, Trần Văn Bình (escaped DN), a locked
/// account; groups nested three levels deep and a two-group cycle.
fn province_seed() -> String {
    let mut ldif = String::new();
    let mut everyone = Vec::new();
    for i in 0..110 {
        let name = format!(
            "{} {} {}",
            SURNAMES[i % SURNAMES.len()],
            MIDDLE[(i / 10) % MIDDLE.len()],
            GIVEN[i % GIVEN.len()]
        );
        let uid = format!("cb{i:03}");
        ldif.push_str(&person(&uid, &name, i, ""));
        everyone.push(user_dn(&uid));
    }
    ldif.push_str(&person(HANG, "Nguyễn Thị Hằng", 500, ""));
    ldif.push_str(&person(
        LOCKED,
        "Lê Văn Khoa",
        501,
        "pwdAccountLockedTime: 000001010000Z\n",
    ));
    ldif.push_str(&format!(
        "dn: {BINH_DN}\nobjectClass: inetOrgPerson\nuid: tvbinh\ncn: Trần Văn Bình, Phó GĐ\n\
         sn: Trần\ndisplayName: Trần Văn Bình\nmail: binh.tv@namdinh.gov.vn\n\
         userPassword: {PASSWORD}\n\n"
    ));
    everyone.extend([user_dn(HANG), user_dn(LOCKED), BINH_DN.to_string()]);
    ldif.push_str(&group("chuyen-vien", &everyone));
    ldif.push_str(&group("lanh-dao", &[BINH_DN.to_string()]));
    ldif.push_str(&group("phong-to-chuc", &[user_dn(HANG)]));
    ldif.push_str(&group("so-noi-vu", &[group_dn("phong-to-chuc")]));
    ldif.push_str(&group("ubnd-tinh", &[group_dn("so-noi-vu")]));
    ldif.push_str(&group("nhom-vong-a", &[user_dn(HANG)]));
    ldif.push_str(&group("nhom-vong-b", &[group_dn("nhom-vong-a")]));
    ldif
}

/// Closes the cycle: nhom-vong-a ∋ nhom-vong-b ∋ nhom-vong-a.
fn close_cycle(slapd: &Slapd) {
    slapd.modify_ldif(&format!(
        "dn: {}\nchangetype: modify\nadd: member\nmember: {}\n",
        group_dn("nhom-vong-a"),
        group_dn("nhom-vong-b")
    ));
}

fn start_province(options: &SlapdOptions) -> Slapd {
    let slapd = Slapd::start_with(&province_seed(), options);
    close_cycle(&slapd);
    slapd
}

/// `[directory]` text for `urls`, the service account = slapd's root DN (password file).
fn ldap_section(dir: &Path, urls: &[String], extra: &str) -> String {
    let password_file = dir.join("bind-password");
    std::fs::write(&password_file, format!("{ADMIN_PASSWORD}\n")).unwrap();
    let urls = urls
        .iter()
        .map(|u| format!("{u:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"[directory]
backend = "ldap"
[directory.ldap]
urls = [{urls}]
bind_dn = "{ADMIN_DN}"
bind_password_file = "bind-password"
user_base_dn = "{PEOPLE_DN}"
connect_timeout = "2s"
operation_timeout = "5s"
{extra}
"#
    )
}

/// Loads the section through the real configuration loader, then opens the backend.
async fn open_directory(dir: &Path, section: &str) -> SharedDirectory {
    let path = dir.join("govgate.toml");
    std::fs::write(&path, section).unwrap();
    let config = govgate::config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let directory_config = config.directory.expect("[directory] section");
    directory::open(&directory_config).await.unwrap()
}

async fn province_directory(slapd: &Slapd, extra: &str) -> SharedDirectory {
    let section = ldap_section(slapd.dir(), &[slapd.url()], extra);
    open_directory(slapd.dir(), &section).await
}

fn entry_uuid(slapd: &Slapd, uid: &str) -> String {
    let ldif = slapd.search(PEOPLE_DN, &format!("(uid={uid})"), &["entryUUID"]);
    ldif.lines()
        .find_map(|line| line.strip_prefix("entryUUID: "))
        .expect("entryUUID in ldapsearch output")
        .to_string()
}

fn assert_invalid(outcome: Result<govgate::identity::Identity, DirectoryError>, what: &str) {
    assert!(
        matches!(outcome, Err(DirectoryError::InvalidCredentials)),
        "{what}: expected InvalidCredentials, got {outcome:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn login_returns_identity_with_nested_groups_via_member_of() {
    let slapd = start_province(&SlapdOptions::default());
    let directory = province_directory(&slapd, "").await;
    assert_eq!(directory.kind(), "ldap");
    let identity = directory.authenticate(HANG, PASSWORD).await.unwrap();
    assert_eq!(identity.username, HANG);
    assert_eq!(identity.display_name, "Nguyễn Thị Hằng");
    assert_eq!(identity.email.as_deref(), Some("nthang@namdinh.gov.vn"));
    assert_eq!(identity.department.as_deref(), Some("Sở Nội vụ"));
    assert_eq!(identity.employee_number.as_deref(), Some("NV-0500"));
    assert_eq!(identity.subject, entry_uuid(&slapd, HANG));
    assert_eq!(identity.source, "ldap");
    // Three levels (phong-to-chuc ⊂ so-noi-vu ⊂ ubnd-tinh) and the cycle, which ends.
    assert_eq!(
        identity.groups,
        [
            "chuyen-vien",
            "nhom-vong-a",
            "nhom-vong-b",
            "phong-to-chuc",
            "so-noi-vu",
            "ubnd-tinh"
        ]
    );
    let generated = directory.authenticate("cb042", PASSWORD).await.unwrap();
    assert_eq!(generated.groups, ["chuyen-vien"]);
    assert_eq!(generated.display_name, "Lê Ngọc Quỳnh");
}

#[tokio::test(flavor = "current_thread")]
async fn group_search_mode_resolves_the_same_nesting_and_respects_the_depth_limit() {
    let slapd = start_province(&SlapdOptions::default());
    let search = format!("group_mode = \"search\"\ngroup_base_dn = \"{GROUPS_DN}\"");
    let directory = province_directory(&slapd, &search).await;
    let identity = directory.authenticate(HANG, PASSWORD).await.unwrap();
    assert_eq!(
        identity.groups,
        [
            "chuyen-vien",
            "nhom-vong-a",
            "nhom-vong-b",
            "phong-to-chuc",
            "so-noi-vu",
            "ubnd-tinh"
        ]
    );
    let shallow = province_directory(&slapd, &format!("{search}\ngroup_max_depth = 2")).await;
    let identity = shallow.authenticate(HANG, PASSWORD).await.unwrap();
    assert!(identity.groups.contains(&"so-noi-vu".to_string()));
    assert!(
        !identity.groups.contains(&"ubnd-tinh".to_string()),
        "depth 2 must stop before the third level: {:?}",
        identity.groups
    );
}

#[tokio::test(flavor = "current_thread")]
async fn dn_with_escaped_comma_and_plus_logs_in_and_gets_its_groups() {
    let slapd = start_province(&SlapdOptions::default());
    for extra in [
        String::new(),
        format!("group_mode = \"search\"\ngroup_base_dn = \"{GROUPS_DN}\""),
    ] {
        let directory = province_directory(&slapd, &extra).await;
        let identity = directory.authenticate("tvbinh", PASSWORD).await.unwrap();
        assert_eq!(identity.display_name, "Trần Văn Bình");
        assert_eq!(identity.groups, ["chuyen-vien", "lanh-dao"], "{extra}");
        assert_invalid(
            directory.authenticate("tvbinh", "sai-mat-khau").await,
            "tvbinh wrong password",
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn wrong_password_and_unknown_user_are_the_same_error() {
    let slapd = start_province(&SlapdOptions::default());
    let directory = province_directory(&slapd, "").await;
    let wrong = directory.authenticate(HANG, "MatKhau@2025").await;
    let unknown = directory.authenticate("khongtontai", PASSWORD).await;
    assert_invalid(wrong, "wrong password");
    assert_invalid(unknown, "unknown user");
    let (Err(wrong), Err(unknown)) = (
        directory.authenticate(HANG, "x").await,
        directory.authenticate("khongtontai", "x").await,
    ) else {
        panic!("both must fail");
    };
    assert_eq!(wrong.to_string(), unknown.to_string());
}

#[tokio::test(flavor = "current_thread")]
async fn injection_usernames_match_nothing() {
    let slapd = start_province(&SlapdOptions::default());
    let directory = province_directory(&slapd, "").await;
    for username in [
        "*",
        "admin)(|(uid=*",
        "nthang)(uid=*",
        "nthang)(|(uid=*",
        "nth*",
        "nthang\0",
        "\0",
        "nthang\\",
        "(uid=nthang)",
    ] {
        assert_invalid(directory.authenticate(username, PASSWORD).await, username);
        assert_eq!(
            directory.lookup(username).await.unwrap(),
            None,
            "lookup {username:?}"
        );
    }
    // slapd saw the metacharacters as escaped values, never as filter syntax.
    let log = slapd.log().to_lowercase();
    assert!(
        log.contains(r"(uid=\2a))"),
        "no escaped `*` search in slapd's log"
    );
    assert!(log.contains(r"(uid=admin\29\28|\28uid=\2a))"), "{log}");
    let long = "a".repeat(257);
    assert_invalid(directory.authenticate(&long, PASSWORD).await, "257 bytes");
}

#[tokio::test(flavor = "current_thread")]
async fn blank_passwords_are_refused_without_any_bind() {
    let slapd = start_province(&SlapdOptions::default());
    let directory = province_directory(&slapd, "").await;
    // Warm the pool, and prove the log counts binds: a wrong password is one more BIND.
    directory.health().await.unwrap();
    let dn = user_dn(HANG);
    let before = slapd.bind_count(&dn);
    assert_invalid(directory.authenticate(HANG, "wrong").await, "wrong");
    wait_for(
        || slapd.bind_count(&dn) == before + 1,
        "the wrong-password BIND in slapd's log",
    );

    let (binds, accepts) = (slapd.bind_count(&dn), slapd.accept_count());
    for blank in ["", " ", "\t", "   \n"] {
        assert_invalid(directory.authenticate(HANG, blank).await, "blank");
    }
    // Let slapd write anything it would have; then nothing may have reached it.
    assert_invalid(directory.authenticate("cb001", "wrong").await, "marker");
    wait_for(
        || slapd.bind_count(&user_dn("cb001")) == 1,
        "the marker BIND in slapd's log",
    );
    assert_eq!(
        slapd.bind_count(&dn),
        binds,
        "a blank password reached slapd"
    );
    assert_eq!(
        slapd.accept_count(),
        accepts + 1,
        "only the marker's own connection is new"
    );
}

fn wait_for(condition: impl Fn() -> bool, what: &str) {
    for _ in 0..200 {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("never saw {what}");
}

#[tokio::test(flavor = "current_thread")]
async fn locked_account_is_disabled_not_invalid() {
    let slapd = start_province(&SlapdOptions::default());
    let directory = province_directory(&slapd, "").await;
    let outcome = directory.authenticate(LOCKED, PASSWORD).await;
    assert!(
        matches!(outcome, Err(DirectoryError::AccountDisabled)),
        "{outcome:?}"
    );
    assert!(matches!(
        directory.lookup(LOCKED).await,
        Err(DirectoryError::AccountDisabled)
    ));
}

#[tokio::test(flavor = "current_thread")]
async fn lookup_finds_users_without_a_password() {
    let slapd = start_province(&SlapdOptions::default());
    let directory = province_directory(&slapd, "").await;
    let identity = directory
        .lookup(HANG)
        .await
        .unwrap()
        .expect("nthang exists");
    assert_eq!(identity.display_name, "Nguyễn Thị Hằng");
    assert!(identity.groups.contains(&"ubnd-tinh".to_string()));
    assert_eq!(directory.lookup("khongtontai").await.unwrap(), None);
    assert_eq!(directory.lookup("").await.unwrap(), None);
}

#[tokio::test(flavor = "current_thread")]
async fn the_next_url_is_used_when_the_first_is_down() {
    let slapd = start_province(&SlapdOptions::default());
    let dead = format!("ldap://127.0.0.1:{}", support::free_port());
    let section = ldap_section(slapd.dir(), &[dead, slapd.url()], "");
    let directory = open_directory(slapd.dir(), &section).await;
    let identity = directory.authenticate(HANG, PASSWORD).await.unwrap();
    assert_eq!(identity.username, HANG);
    directory.health().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn stopped_slapd_is_unavailable_then_works_again_without_reopening() {
    let mut slapd = start_province(&SlapdOptions::default());
    let directory = province_directory(&slapd, "group_cache_ttl = 0").await;
    directory.authenticate(HANG, PASSWORD).await.unwrap();
    slapd.stop();
    for password in [PASSWORD, "wrong"] {
        let outcome = directory.authenticate(HANG, password).await;
        assert!(
            matches!(outcome, Err(DirectoryError::Unavailable(_))),
            "{outcome:?}"
        );
    }
    assert!(matches!(
        directory.lookup(HANG).await,
        Err(DirectoryError::Unavailable(_))
    ));
    assert!(matches!(
        directory.health().await,
        Err(DirectoryError::Unavailable(_))
    ));
    slapd.restart();
    directory.health().await.unwrap();
    let identity = directory.authenticate(HANG, PASSWORD).await.unwrap();
    assert_eq!(identity.groups.len(), 6);
    assert_invalid(directory.authenticate(HANG, "wrong").await, "after restart");
}

#[tokio::test(flavor = "current_thread")]
async fn missing_service_password_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let section = ldap_section(dir.path(), &["ldap://127.0.0.1:1".to_string()], "").replace(
        "bind_password_file = \"bind-password\"",
        "bind_password_env = \"GOVGATE_TEST_UNSET_LDAP_PW\"",
    );
    let path = dir.path().join("govgate.toml");
    std::fs::write(&path, section).unwrap();
    let config = govgate::config::load(&path).unwrap();
    let outcome = directory::open(&config.directory.unwrap()).await;
    assert!(matches!(outcome, Err(DirectoryError::Config(_))));
}

/// A CA and a server certificate for 127.0.0.1 written into `dir`; returns the CA path.
fn write_tls_files(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} test CA"));
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![
        SanType::IpAddress("127.0.0.1".parse().unwrap()),
        SanType::DnsName("localhost".try_into().unwrap()),
    ];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let ca_path = dir.join(format!("{name}-ca.pem"));
    std::fs::write(&ca_path, ca.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}-server.pem")), cert.pem()).unwrap();
    std::fs::write(
        dir.join(format!("{name}-server-key.pem")),
        key.serialize_pem(),
    )
    .unwrap();
    let d = dir.display();
    let conf = format!(
        "TLSCACertificateFile {d}/{name}-ca.pem\nTLSCertificateFile {d}/{name}-server.pem\n\
         TLSCertificateKeyFile {d}/{name}-server-key.pem\n"
    );
    (ca_path, conf)
}

#[tokio::test(flavor = "current_thread")]
async fn starttls_and_ldaps_work_with_the_right_ca_only() {
    govgate::install_crypto_provider();
    let certs = tempfile::tempdir().unwrap();
    let (ca, conf) = write_tls_files(certs.path(), "tinh");
    let (wrong_ca, _) = write_tls_files(certs.path(), "khac");
    let ldaps_port = support::free_port();
    let slapd = start_province(&SlapdOptions {
        global_conf: conf,
        ldaps_port: Some(ldaps_port),
    });
    let ldaps = format!("ldaps://127.0.0.1:{ldaps_port}");
    let cases = [
        (vec![slapd.url()], "starttls = true"),
        (vec![ldaps.clone()], ""),
    ];
    for (urls, starttls) in &cases {
        let good = format!("{starttls}\nca_file = {:?}", ca.display().to_string());
        let directory = open_directory(slapd.dir(), &ldap_section(slapd.dir(), urls, &good)).await;
        let identity = directory.authenticate(HANG, PASSWORD).await.unwrap();
        assert_eq!(identity.display_name, "Nguyễn Thị Hằng", "{urls:?}");
        assert_invalid(
            directory.authenticate(HANG, "wrong").await,
            "TLS wrong password",
        );

        let bad = format!("{starttls}\nca_file = {:?}", wrong_ca.display().to_string());
        let directory = open_directory(slapd.dir(), &ldap_section(slapd.dir(), urls, &bad)).await;
        let outcome = directory.authenticate(HANG, PASSWORD).await;
        assert!(
            matches!(outcome, Err(DirectoryError::Unavailable(_))),
            "{urls:?} with the wrong CA: {outcome:?}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_filter_matching_several_entries_refuses_the_login() {
    let slapd = start_province(&SlapdOptions::default());
    let ambiguous = r#"user_filter = "(|(uid={username})(uid=cb001))""#;
    let directory = province_directory(&slapd, ambiguous).await;
    assert_invalid(directory.authenticate(HANG, PASSWORD).await, "two matches");
    assert_eq!(directory.lookup(HANG).await.unwrap(), None);
    // The same filter with a single match still works: cb001 alone.
    let identity = directory.authenticate("cb001", PASSWORD).await.unwrap();
    assert_eq!(identity.username, "cb001");
}

#[tokio::test(flavor = "current_thread")]
async fn a_server_that_accepts_but_never_answers_is_unavailable() {
    // The kernel completes the TCP handshake for the backlog; nothing ever reads or replies.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ldap://{}", silent.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let section = ldap_section(dir.path(), &[url], "")
        .replace("operation_timeout = \"5s\"", "operation_timeout = \"1s\"");
    let directory = open_directory(dir.path(), &section).await;
    let outcome = directory.authenticate(HANG, PASSWORD).await;
    assert!(
        matches!(outcome, Err(DirectoryError::Unavailable(_))),
        "{outcome:?}"
    );
    assert!(matches!(
        directory.health().await,
        Err(DirectoryError::Unavailable(_))
    ));
}
