//! The test kit's own smoke test: the real services it starts answer as promised.

mod support;

use support::gateway::{http_get, http_request};
use support::nginx::{large_body, Nginx};
use support::slapd::{self, Slapd};

#[test]
fn slapd_seed_fills_member_of_with_vietnamese_names() {
    let directory = Slapd::start_province();
    let entry = directory.search(slapd::PEOPLE_DN, "(uid=nvan)", &["cn", "memberOf"]);
    assert!(
        entry.contains(&format!("memberOf: {}", slapd::group_dn("lanh-dao"))),
        "{entry}"
    );
    assert!(
        entry.contains(&format!("memberOf: {}", slapd::group_dn("chuyen-vien"))),
        "{entry}"
    );
    assert!(
        !entry.contains(&slapd::group_dn("van-thu")),
        "nvan is not a van-thu member: {entry}"
    );

    // The UTF-8 name survives the round trip (ldapsearch prints it base64-encoded).
    let by_name = directory.search(slapd::PEOPLE_DN, "(cn=Nguyễn Văn An)", &["uid"]);
    assert!(by_name.contains("uid: nvan"), "{by_name}");

    let nobody = directory.search(slapd::PEOPLE_DN, "(uid=khong-ton-tai)", &["uid"]);
    assert!(nobody.trim().is_empty(), "{nobody}");
}

#[test]
fn slapd_binds_active_users_and_refuses_the_locked_one() {
    let directory = Slapd::start_province();
    assert_eq!(
        directory.bind_status(&slapd::user_dn("ttbinh"), slapd::USER_PASSWORD),
        0
    );
    assert_eq!(
        directory.bind_status(&slapd::user_dn("ttbinh"), "sai-mat-khau"),
        49
    );
    assert_eq!(
        directory.bind_status(&slapd::user_dn(slapd::DISABLED_UID), slapd::USER_PASSWORD),
        49
    );
}

#[test]
fn slapd_does_not_lock_accounts_after_failed_binds() {
    let directory = Slapd::start_province();
    for _ in 0..8 {
        assert_eq!(
            directory.bind_status(&slapd::user_dn("lvcuong"), "sai-mat-khau"),
            49
        );
    }
    assert_eq!(
        directory.bind_status(&slapd::user_dn("lvcuong"), slapd::USER_PASSWORD),
        0
    );
}

#[test]
fn slapd_member_of_follows_group_changes() {
    let directory = Slapd::start_province();
    directory.modify_ldif(&format!(
        "dn: {}\nchangetype: modify\nadd: member\nmember: {}\n",
        slapd::group_dn("van-thu"),
        slapd::user_dn("ttbinh")
    ));
    let entry = directory.search(slapd::PEOPLE_DN, "(uid=ttbinh)", &["memberOf"]);
    assert!(
        entry.contains(&format!("memberOf: {}", slapd::group_dn("van-thu"))),
        "{entry}"
    );
}

#[test]
fn nginx_origin_answers_ok_echoes_headers_and_serves_files() {
    let origin = Nginx::origin();
    let root = http_get(origin.addr(), "origin.test", "/").unwrap();
    assert_eq!(root.status, 200);
    assert_eq!(root.text(), "ok");

    let echo = http_request(
        origin.addr(),
        "GET /echo/a?b=1 HTTP/1.1\r\nHost: origin.test\r\nX-Forwarded-For: 203.0.113.7\r\n\
         X-Remote-User: nvan\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(echo.status, 200);
    let text = echo.text();
    assert!(text.contains("uri: /echo/a?b=1\n"), "{text}");
    assert!(text.contains("x-forwarded-for: 203.0.113.7\n"), "{text}");
    assert!(text.contains("x-remote-user: nvan\n"), "{text}");
    assert!(
        text.contains("x-forwarded-proto: \n"),
        "absent header echoes empty: {text}"
    );
    assert_eq!(echo.header("x-echo-x-remote-user"), Some("nvan"));

    let large = http_get(origin.addr(), "origin.test", "/large").unwrap();
    assert_eq!(large.status, 200);
    assert!(
        large.body == large_body(),
        "large body differs ({} bytes)",
        large.body.len()
    );

    assert_eq!(
        http_get(origin.addr(), "origin.test", "/status/503")
            .unwrap()
            .status,
        503
    );
    assert_eq!(
        http_get(origin.addr(), "origin.test", "/no-such-file")
            .unwrap()
            .status,
        404
    );
}

#[test]
fn nginx_hang_location_sends_nothing() {
    use std::io::{Read, Write};
    let origin = Nginx::origin();
    let mut stream = std::net::TcpStream::connect(origin.addr()).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    stream
        .write_all(b"GET /hang HTTP/1.1\r\nHost: origin.test\r\n\r\n")
        .unwrap();
    let mut buffer = [0u8; 64];
    let error = stream.read(&mut buffer).expect_err("/hang must not answer");
    assert!(
        matches!(
            error.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{error}"
    );
}

/// A gateway that cannot start (here: an unknown configuration key) fails the test at
/// once, with its log, instead of timing out.
#[test]
#[should_panic(expected = "before becoming healthy")]
fn gateway_kit_reports_a_gateway_that_exits() {
    support::gateway::Gateway::start("no_such_key = true\n");
}
