//! Request ids: short, unique enough to find one request in the logs of every instance.

use std::cell::Cell;

use http::HeaderValue;

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    // A random start per thread; uniqueness then comes from the generator's full period.
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        bytes = (std::process::id() as u64 ^ 0x9e37_79b9_7f4a_7c15).to_le_bytes();
    }
    u64::from_le_bytes(bytes) | 1
}

/// A new 16-hex-digit id (xorshift64*: not secret, only unique).
pub fn new_request_id() -> HeaderValue {
    let n = STATE.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    });
    let mut buf = [0u8; 16];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte = HEX[((n >> (60 - 4 * i)) & 0xf) as usize];
    }
    // Hex digits are always a valid header value.
    HeaderValue::from_bytes(&buf).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// An incoming id is kept only if it is short and plain (it ends up in logs and pages).
pub fn acceptable_incoming_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_hex_and_distinct() {
        let a = new_request_id();
        let b = new_request_id();
        assert_eq!(a.len(), 16);
        assert!(a.as_bytes().iter().all(u8::is_ascii_hexdigit));
        assert_ne!(a, b);
    }

    #[test]
    fn hostile_incoming_ids_are_refused() {
        assert!(acceptable_incoming_id(&HeaderValue::from_static("abc-123")));
        assert!(!acceptable_incoming_id(&HeaderValue::from_static(
            "<script>"
        )));
        assert!(!acceptable_incoming_id(&HeaderValue::from_static("")));
    }
}
