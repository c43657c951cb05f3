//! The end entities of the development PKI: who they are and what kind of certificate
//! each gets.

/// The end entities: (name, issuing CA, subject, kind).
pub(super) fn signer_specs() -> Vec<Leaf> {
    let an = Subject::person(
        "Nguyễn Văn An",
        "Sở Thông tin và Truyền thông tỉnh Bắc Ninh",
        "Bắc Ninh",
        "CCCD:027090001234",
    );
    vec![
        Leaf::signer("an", "vnpt-ca-test", an.clone()),
        Leaf::signer(
            "so-tnmt",
            "cpca-test",
            Subject::organisation(
                "Sở Tài nguyên và Môi trường tỉnh Bắc Ninh",
                "Bắc Ninh",
                "MST:2300100123",
            ),
        ),
        Leaf::signer(
            "ubnd",
            "cpca-test",
            Subject::organisation(
                "Ủy ban nhân dân tỉnh Bắc Ninh",
                "Bắc Ninh",
                "MST:2300100001",
            ),
        ),
        Leaf {
            validity: Validity::Expired,
            ..Leaf::signer(
                "expired",
                "vnpt-ca-test",
                Subject::person(
                    "Trần Thị Bình",
                    "Văn phòng UBND tỉnh Bắc Ninh",
                    "Bắc Ninh",
                    "CCCD:027190005678",
                ),
            )
        },
        Leaf {
            validity: Validity::NotYetValid,
            ..Leaf::signer(
                "not-yet-valid",
                "vnpt-ca-test",
                Subject::person(
                    "Lê Văn Cường",
                    "Sở Nội vụ tỉnh Bắc Ninh",
                    "Bắc Ninh",
                    "CCCD:027091009876",
                ),
            )
        },
        Leaf::signer(
            "revoked",
            "vnpt-ca-test",
            Subject::person(
                "Phạm Thị Dung",
                "Sở Tư pháp tỉnh Bắc Ninh",
                "Bắc Ninh",
                "CCCD:027192004321",
            ),
        ),
        Leaf::signer(
            "revoked-later",
            "vnpt-ca-test",
            Subject::person(
                "Vũ Thị Giang",
                "Sở Tư pháp tỉnh Bắc Ninh",
                "Bắc Ninh",
                "CCCD:027194006789",
            ),
        ),
        Leaf {
            kind: LeafKind::WrongKeyUsage,
            ..Leaf::signer(
                "wrong-ku",
                "vnpt-ca-test",
                Subject::person(
                    "Hoàng Văn Em",
                    "Sở Y tế tỉnh Bắc Ninh",
                    "Bắc Ninh",
                    "CCCD:027093002468",
                ),
            )
        },
        Leaf {
            kind: LeafKind::Ecdsa,
            ..Leaf::signer("ecdsa", "vnpt-ca-test", an)
        },
        Leaf {
            kind: LeafKind::Tsa,
            ..Leaf::signer(
                "tsa",
                "vnpt-ca-test",
                Subject::organisation("VNPT-CA TSA (thử nghiệm)", "Hà Nội", "MST:0100684378"),
            )
        },
        Leaf {
            kind: LeafKind::Ocsp,
            ..Leaf::signer(
                "ocsp-vnpt",
                "vnpt-ca-test",
                Subject::organisation("VNPT-CA OCSP (thử nghiệm)", "Hà Nội", "MST:0100684378"),
            )
        },
    ]
}

#[derive(Debug, Clone)]
pub(super) struct Subject {
    pub(super) common_name: String,
    pub(super) organisation: String,
    pub(super) locality: String,
    pub(super) user_id: String,
}

impl Subject {
    pub(super) fn person(name: &str, organisation: &str, locality: &str, user_id: &str) -> Subject {
        Subject {
            common_name: name.into(),
            organisation: organisation.into(),
            locality: locality.into(),
            user_id: user_id.into(),
        }
    }

    pub(super) fn organisation(name: &str, locality: &str, user_id: &str) -> Subject {
        Subject::person(name, name, locality, user_id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LeafKind {
    Signer,
    WrongKeyUsage,
    Ecdsa,
    Tsa,
    Ocsp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Validity {
    Current,
    Expired,
    NotYetValid,
}

#[derive(Debug, Clone)]
pub(super) struct Leaf {
    pub(super) name: &'static str,
    pub(super) issuer: &'static str,
    pub(super) subject: Subject,
    pub(super) kind: LeafKind,
    pub(super) validity: Validity,
}

impl Leaf {
    pub(super) fn signer(name: &'static str, issuer: &'static str, subject: Subject) -> Leaf {
        Leaf {
            name,
            issuer,
            subject,
            kind: LeafKind::Signer,
            validity: Validity::Current,
        }
    }
}
