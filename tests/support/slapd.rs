//! OpenLDAP `slapd` as a test directory: a temp dir, an old-style slapd.conf, a random
//! loopback port; seed entries are loaded online with `ldapadd` so the memberof overlay
//! fills `memberOf`. Stopped when dropped.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::free_port;
use super::nginx::{send_signal, wait_exit};

pub const BASE_DN: &str = "dc=namdinh,dc=gov,dc=vn";
pub const PEOPLE_DN: &str = "ou=people,dc=namdinh,dc=gov,dc=vn";
pub const GROUPS_DN: &str = "ou=groups,dc=namdinh,dc=gov,dc=vn";
pub const ADMIN_DN: &str = "cn=admin,dc=namdinh,dc=gov,dc=vn";
pub const ADMIN_PASSWORD: &str = "admin-secret";
/// Password of every user in [`PROVINCE_SEED`].
pub const USER_PASSWORD: &str = "MatKhau@2024";
/// A user of [`PROVINCE_SEED`] whose account is locked (`pwdAccountLockedTime`).
pub const DISABLED_UID: &str = "phdung";

pub struct Slapd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
}

impl Slapd {
    /// Starts slapd with an empty `BASE_DN` and a default password policy, then loads
    /// `seed_ldif` (may be empty).
    pub fn start(seed_ldif: &str) -> Slapd {
        let dir = tempfile::tempdir().expect("temp dir for slapd");
        std::fs::create_dir(dir.path().join("db")).expect("slapd db dir");
        let conf = dir.path().join("slapd.conf");
        std::fs::write(&conf, slapd_conf(dir.path())).expect("write slapd.conf");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("slapd.log")).expect("slapd log file");
        let child = Command::new("slapd")
            .arg("-f")
            .arg(&conf)
            .arg("-h")
            .arg(format!("ldap://127.0.0.1:{port}/"))
            .arg("-d")
            .arg("0")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("clone log handle")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("run slapd (is it installed? scripts/test installs it)");
        let mut slapd = Slapd {
            child: Some(child),
            dir,
            port,
        };
        slapd.wait_until_answering();
        slapd.add_ldif(&base_entries());
        if !seed_ldif.trim().is_empty() {
            slapd.add_ldif(seed_ldif);
        }
        slapd
    }

    /// Starts slapd with [`PROVINCE_SEED`].
    pub fn start_province() -> Slapd {
        Self::start(PROVINCE_SEED)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `ldap://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// slapd's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    /// Adds entries as the root DN; panics with ldapadd's output on failure.
    pub fn add_ldif(&self, ldif: &str) {
        let output = self.ldap_tool("ldapadd", &[], ldif);
        assert!(
            output.status.success(),
            "ldapadd failed: {}",
            describe(&output)
        );
    }

    /// Applies an LDIF of changes (`changetype: modify` …) as the root DN.
    pub fn modify_ldif(&self, ldif: &str) {
        let output = self.ldap_tool("ldapmodify", &[], ldif);
        assert!(
            output.status.success(),
            "ldapmodify failed: {}",
            describe(&output)
        );
    }

    /// `ldapsearch -LLL` as the root DN under `base`; the LDIF output (values that are
    /// not plain ASCII come back base64-encoded, `attr:: …`).
    pub fn search(&self, base: &str, filter: &str, attributes: &[&str]) -> String {
        let mut args = vec!["-LLL", "-o", "ldif-wrap=no", "-b", base, filter];
        args.extend_from_slice(attributes);
        let output = self.ldap_tool("ldapsearch", &args, "");
        assert!(
            output.status.success(),
            "ldapsearch failed: {}",
            describe(&output)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Tries a simple bind as `dn`; returns ldapwhoami's exit code (0 = success,
    /// 49 = invalid credentials).
    pub fn bind_status(&self, dn: &str, password: &str) -> i32 {
        let output = Command::new("ldapwhoami")
            .args(["-x", "-H", &self.url(), "-D", dn, "-w", password])
            .stdin(Stdio::null())
            .output()
            .expect("run ldapwhoami");
        output.status.code().unwrap_or(-1)
    }

    fn ldap_tool(&self, tool: &str, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(tool)
            .args([
                "-x",
                "-H",
                &self.url(),
                "-D",
                ADMIN_DN,
                "-w",
                ADMIN_PASSWORD,
            ])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run {tool} (ldap-utils installed?): {e}"));
        let mut input = child.stdin.take().expect("tool stdin");
        input
            .write_all(stdin.as_bytes())
            .expect("write LDIF to tool");
        drop(input);
        child.wait_with_output().expect("wait for ldap tool")
    }

    fn wait_until_answering(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let probe = Command::new("ldapsearch")
                .args([
                    "-x",
                    "-H",
                    &self.url(),
                    "-s",
                    "base",
                    "-b",
                    "",
                    "namingContexts",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if matches!(probe, Ok(status) if status.success()) {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("slapd exited with {status}:\n{}", self.log());
            }
            if Instant::now() > deadline {
                panic!("slapd not answering on {}:\n{}", self.url(), self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        send_signal(child.id(), "TERM");
        if !wait_exit(&mut child, Duration::from_secs(5)) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The DN of a user in `ou=people`.
pub fn user_dn(uid: &str) -> String {
    format!("uid={uid},{PEOPLE_DN}")
}

/// The DN of a group in `ou=groups`.
pub fn group_dn(cn: &str) -> String {
    format!("cn={cn},{GROUPS_DN}")
}

fn describe(output: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn slapd_conf(dir: &Path) -> String {
    let dir = dir.display();
    format!(
        r#"include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema

modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
moduleload refint
moduleload ppolicy

pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args

database mdb
maxsize 67108864
suffix "{BASE_DN}"
rootdn "{ADMIN_DN}"
rootpw {ADMIN_PASSWORD}
directory {dir}/db
index objectClass eq
index uid,cn,mail eq,sub
index member,memberOf eq

overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE

overlay refint
refint_attributes member

overlay ppolicy
ppolicy_default "cn=default,ou=policies,{BASE_DN}"
ppolicy_use_lockout

access to attrs=userPassword
    by self write
    by anonymous auth
    by * none
access to *
    by * read
"#
    )
}

/// The suffix entry, the organisational units and the default password policy. The policy
/// honours an administrator's lock (`pwdAccountLockedTime`) but never locks an account
/// after failed binds (`pwdMaxFailure: 0`): brute-force tests exercise the gateway's own
/// regulation and must not lock seed users for the tests that follow.
fn base_entries() -> String {
    format!(
        r#"dn: {BASE_DN}
objectClass: top
objectClass: dcObject
objectClass: organization
dc: namdinh
o: UBND tinh Nam Dinh

dn: {PEOPLE_DN}
objectClass: organizationalUnit
ou: people

dn: {GROUPS_DN}
objectClass: organizationalUnit
ou: groups

dn: ou=policies,{BASE_DN}
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,{BASE_DN}
objectClass: organizationalRole
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdLockout: TRUE
pwdMaxFailure: 0
pwdLockoutDuration: 0
"#
    )
}

/// A small province directory:
///
/// | uid | cn | groups |
/// |---|---|---|
/// | nvan | Nguyễn Văn An | lanh-dao, chuyen-vien |
/// | ttbinh | Trần Thị Bình | chuyen-vien |
/// | lvcuong | Lê Văn Cường | van-thu |
/// | dtha | Đỗ Thị Hà | chuyen-vien, van-thu |
/// | phdung | Phạm Hoàng Dũng (locked) | chuyen-vien |
pub const PROVINCE_SEED: &str = r#"# Seed of a small province directory (UTF-8). Password of every user: MatKhau@2024.
# phdung is locked (pwdAccountLockedTime) - a disabled account.

dn: uid=nvan,ou=people,dc=namdinh,dc=gov,dc=vn
objectClass: inetOrgPerson
objectClass: posixAccount
uid: nvan
cn: Nguyễn Văn An
sn: Nguyễn
givenName: Văn An
displayName: Nguyễn Văn An
mail: an.nv@namdinh.gov.vn
title: Lãnh đạo UBND tỉnh
telephoneNumber: 0912000001
uidNumber: 10001
gidNumber: 10000
homeDirectory: /home/nvan
userPassword: MatKhau@2024

dn: uid=ttbinh,ou=people,dc=namdinh,dc=gov,dc=vn
objectClass: inetOrgPerson
objectClass: posixAccount
uid: ttbinh
cn: Trần Thị Bình
sn: Trần
givenName: Thị Bình
displayName: Trần Thị Bình
mail: binh.tt@namdinh.gov.vn
title: Chuyên viên Văn phòng
telephoneNumber: 0912000002
uidNumber: 10002
gidNumber: 10000
homeDirectory: /home/ttbinh
userPassword: MatKhau@2024

dn: uid=lvcuong,ou=people,dc=namdinh,dc=gov,dc=vn
objectClass: inetOrgPerson
objectClass: posixAccount
uid: lvcuong
cn: Lê Văn Cường
sn: Lê
givenName: Văn Cường
displayName: Lê Văn Cường
mail: cuong.lv@namdinh.gov.vn
title: Văn thư
telephoneNumber: 0912000003
uidNumber: 10003
gidNumber: 10000
homeDirectory: /home/lvcuong
userPassword: MatKhau@2024

dn: uid=dtha,ou=people,dc=namdinh,dc=gov,dc=vn
objectClass: inetOrgPerson
objectClass: posixAccount
uid: dtha
cn: Đỗ Thị Hà
sn: Đỗ
givenName: Thị Hà
displayName: Đỗ Thị Hà
mail: ha.dt@namdinh.gov.vn
title: Chuyên viên Sở Nội vụ
telephoneNumber: 0912000004
uidNumber: 10004
gidNumber: 10000
homeDirectory: /home/dtha
userPassword: MatKhau@2024

dn: uid=phdung,ou=people,dc=namdinh,dc=gov,dc=vn
objectClass: inetOrgPerson
objectClass: posixAccount
uid: phdung
cn: Phạm Hoàng Dũng
sn: Phạm
givenName: Hoàng Dũng
displayName: Phạm Hoàng Dũng
mail: dung.ph@namdinh.gov.vn
title: Chuyên viên (đã nghỉ việc)
telephoneNumber: 0912000005
uidNumber: 10005
gidNumber: 10000
homeDirectory: /home/phdung
userPassword: MatKhau@2024
pwdAccountLockedTime: 000001010000Z

dn: cn=lanh-dao,ou=groups,dc=namdinh,dc=gov,dc=vn
objectClass: groupOfNames
cn: lanh-dao
description: Lãnh đạo
member: uid=nvan,ou=people,dc=namdinh,dc=gov,dc=vn

dn: cn=chuyen-vien,ou=groups,dc=namdinh,dc=gov,dc=vn
objectClass: groupOfNames
cn: chuyen-vien
description: Chuyên viên
member: uid=nvan,ou=people,dc=namdinh,dc=gov,dc=vn
member: uid=ttbinh,ou=people,dc=namdinh,dc=gov,dc=vn
member: uid=dtha,ou=people,dc=namdinh,dc=gov,dc=vn
member: uid=phdung,ou=people,dc=namdinh,dc=gov,dc=vn

dn: cn=van-thu,ou=groups,dc=namdinh,dc=gov,dc=vn
objectClass: groupOfNames
cn: van-thu
description: Văn thư
member: uid=lvcuong,ou=people,dc=namdinh,dc=gov,dc=vn
member: uid=dtha,ou=people,dc=namdinh,dc=gov,dc=vn
"#;

/// Extra settings for [`Slapd::start_with`].
#[derive(Debug, Clone, Default)]
pub struct SlapdOptions {
    /// Global directives put before the rest of slapd.conf (e.g. `TLSCertificateFile …`).
    pub global_conf: String,
    /// Also listen for `ldaps://` on this port.
    pub ldaps_port: Option<u16>,
}

/// Where [`Slapd::start_with`] keeps what [`Slapd::restart`] needs.
const LISTEN_FILE: &str = "listen-urls";

impl Slapd {
    /// Starts slapd like [`Slapd::start`], plus `options`, with `stats` logging (one
    /// `conn=… op=… BIND dn="…"` line per bind in [`Slapd::log`]). Can be stopped and
    /// restarted on the same port with the same data.
    pub fn start_with(seed_ldif: &str, options: &SlapdOptions) -> Slapd {
        let dir = tempfile::tempdir().expect("temp dir for slapd");
        std::fs::create_dir(dir.path().join("db")).expect("slapd db dir");
        let conf = format!("{}\n{}", options.global_conf, slapd_conf(dir.path()));
        std::fs::write(dir.path().join("slapd.conf"), conf).expect("write slapd.conf");
        let port = free_port();
        let mut urls = format!("ldap://127.0.0.1:{port}/");
        if let Some(ldaps_port) = options.ldaps_port {
            urls.push_str(&format!(" ldaps://127.0.0.1:{ldaps_port}/"));
        }
        std::fs::write(dir.path().join(LISTEN_FILE), &urls).expect("write listen urls");
        let mut slapd = Slapd {
            child: None,
            dir,
            port,
        };
        slapd.restart();
        slapd.add_ldif(&base_entries());
        if !seed_ldif.trim().is_empty() {
            slapd.add_ldif(seed_ldif);
        }
        slapd
    }

    /// Stops slapd (SIGTERM, then SIGKILL after 5 s); the data directory stays.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            send_signal(child.id(), "TERM");
            if !wait_exit(&mut child, Duration::from_secs(5)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Starts slapd again (after [`Slapd::stop`]) on the same port(s) with the same data;
    /// output is appended to the same log.
    pub fn restart(&mut self) {
        self.stop();
        let urls = std::fs::read_to_string(self.dir.path().join(LISTEN_FILE))
            .unwrap_or_else(|_| format!("ldap://127.0.0.1:{}/", self.port));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("slapd.log"))
            .expect("slapd log file");
        let child = Command::new("slapd")
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .arg("-h")
            .arg(urls.trim())
            .arg("-d")
            .arg("stats")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("clone log handle")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("run slapd");
        self.child = Some(child);
        self.wait_until_answering();
    }

    /// The temp directory slapd runs in (for certificates and the like).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// How many BIND operations for exactly `dn` slapd has logged (needs
    /// [`Slapd::start_with`], which logs `stats`).
    pub fn bind_count(&self, dn: &str) -> usize {
        let needle = format!("BIND dn=\"{dn}\"");
        self.log()
            .lines()
            .filter(|line| line.contains(&needle))
            .count()
    }

    /// How many connections slapd has accepted so far (`stats` logging).
    pub fn accept_count(&self) -> usize {
        self.log()
            .lines()
            .filter(|line| line.contains(" ACCEPT from "))
            .count()
    }
}
