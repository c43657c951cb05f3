//! Local time in Asia/Ho_Chi_Minh (UTC+07:00 all year: Việt Nam has no daylight saving time
//! since 1975), and RFC 3339 timestamps for test tables and `policy explain --time`.

/// Seconds east of UTC in Asia/Ho_Chi_Minh.
pub const VIETNAM_OFFSET_SECONDS: i64 = 7 * 3600;

/// The parts of local time policies may test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LocalTime {
    /// 0–23.
    pub hour: u8,
    /// 0–1439.
    pub minute_of_day: u16,
    /// ISO weekday: 1 = Monday … 7 = Sunday.
    pub weekday: u8,
}

impl LocalTime {
    /// Local time in Việt Nam at `unix` seconds.
    pub fn in_vietnam(unix: i64) -> LocalTime {
        let local = unix + VIETNAM_OFFSET_SECONDS;
        let days = local.div_euclid(86_400);
        let seconds = local.rem_euclid(86_400);
        LocalTime {
            hour: (seconds / 3600) as u8,
            minute_of_day: (seconds / 60) as u16,
            // 1970-01-01 was a Thursday (ISO 4).
            weekday: ((days + 3).rem_euclid(7) + 1) as u8,
        }
    }
}

/// Now, in unix seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(i, c)| bytes[i] != c) {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let hours = i64::from(h1 - b'0') * 10 + i64::from(h2 - b'0');
            let minutes = i64::from(m1 - b'0') * 10 + i64::from(m2 - b'0');
            if hours > 23 || minutes > 59 {
                return None;
            }
            let magnitude = hours * 3600 + minutes * 60;
            if *sign == b'+' {
                magnitude
            } else {
                -magnitude
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_offsets() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-01-05T10:00:00+07:00"),
            Some(1_767_582_000)
        );
        assert_eq!(
            parse_rfc3339("2026-01-05T03:00:00.250Z"),
            parse_rfc3339("2026-01-05T10:00:00+07:00")
        );
        for bad in [
            "2026-02-30T10:00:00Z",
            "2026-01-05 10:00",
            "2026-01-05T10:00:00",
            "2026-01-05T10:00:00+7:00",
            "2026-13-05T10:00:00Z",
            "2026-01-05T10:00:00.Z",
            "đ026-01-05T10:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn vietnam_local_time_and_weekday() {
        // Monday 2026-01-05 10:00 in Hà Nội.
        let monday = parse_rfc3339("2026-01-05T10:00:00+07:00").unwrap();
        let local = LocalTime::in_vietnam(monday);
        assert_eq!(
            (local.hour, local.minute_of_day, local.weekday),
            (10, 600, 1)
        );
        // Sunday 23:30 local is still Sunday although UTC says 16:30.
        let sunday = parse_rfc3339("2026-01-04T16:30:00Z").unwrap();
        let local = LocalTime::in_vietnam(sunday);
        assert_eq!((local.hour, local.weekday), (23, 7));
        // Just after midnight local time it is Monday.
        let local = LocalTime::in_vietnam(parse_rfc3339("2026-01-04T17:00:00Z").unwrap());
        assert_eq!((local.hour, local.weekday), (0, 1));
    }
}
