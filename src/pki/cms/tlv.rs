//! A minimal, bounded DER reader for the outer layers of CMS structures.
//!
//! The `cms` crate decodes `SET OF` by insertion-sorting its elements, which costs
//! O(n²) comparisons on hostile input; this reader walks the layout first, counts the
//! elements of every SET it will hand to that crate and gives back raw slices
//! (certificates, SignerInfos) so that nothing is re-encoded before it is compared.
//! Definite lengths only (DER): a BER indefinite length is refused, not guessed at.

use super::CmsFormatError;

/// One tag-length-value, borrowed from the input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    /// The contents octets.
    pub value: &'a [u8],
    /// Tag, length and contents: the element as it was encoded.
    pub whole: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// The first element of `input` and what follows it.
    pub fn read(input: &'a [u8]) -> Result<(Tlv<'a>, &'a [u8]), CmsFormatError> {
        let (&tag, rest) = input.split_first().ok_or(CmsFormatError::Truncated)?;
        if tag & 0x1f == 0x1f {
            return Err(CmsFormatError::Malformed("multi-octet tag"));
        }
        let (&first, rest) = rest.split_first().ok_or(CmsFormatError::Truncated)?;
        let (length, rest) = match first {
            0x00..=0x7f => (usize::from(first), rest),
            0x80 => return Err(CmsFormatError::IndefiniteLength),
            0x81..=0x84 => {
                let count = usize::from(first & 0x7f);
                if rest.len() < count {
                    return Err(CmsFormatError::Truncated);
                }
                let (octets, rest) = rest.split_at(count);
                let length = octets
                    .iter()
                    .fold(0usize, |length, &octet| (length << 8) | usize::from(octet));
                (length, rest)
            }
            _ => return Err(CmsFormatError::Malformed("length of more than 4 octets")),
        };
        if rest.len() < length {
            return Err(CmsFormatError::Truncated);
        }
        let header = input.len() - rest.len();
        let (value, after) = rest.split_at(length);
        let whole = input
            .get(..header + length)
            .ok_or(CmsFormatError::Truncated)?;
        Ok((Tlv { tag, value, whole }, after))
    }

    /// Like [`Tlv::read`], but the element must carry `tag`.
    pub fn expect(
        input: &'a [u8],
        tag: u8,
        what: &'static str,
    ) -> Result<(Tlv<'a>, &'a [u8]), CmsFormatError> {
        let (tlv, rest) = Tlv::read(input)?;
        match tlv.tag == tag {
            true => Ok((tlv, rest)),
            false => Err(CmsFormatError::Unexpected(what)),
        }
    }

    /// The element at the start of `input` if it carries `tag`; otherwise `None` and
    /// `input` unchanged (for OPTIONAL fields).
    pub fn optional(
        input: &'a [u8],
        tag: u8,
    ) -> Result<(Option<Tlv<'a>>, &'a [u8]), CmsFormatError> {
        match input.first() {
            Some(&first) if first == tag => {
                let (tlv, rest) = Tlv::read(input)?;
                Ok((Some(tlv), rest))
            }
            _ => Ok((None, input)),
        }
    }

    /// The elements inside this one, at most `limit` of them.
    pub fn children(
        &self,
        limit: usize,
        what: &'static str,
    ) -> Result<Vec<Tlv<'a>>, CmsFormatError> {
        let mut children = Vec::new();
        let mut remaining = self.value;
        while !remaining.is_empty() {
            if children.len() == limit {
                return Err(CmsFormatError::TooMany { what, limit });
            }
            let (child, rest) = Tlv::read(remaining)?;
            children.push(child);
            remaining = rest;
        }
        Ok(children)
    }
}

/// The single element `input` consists of; anything after it is an error except
/// zero octets (the padding a PDF `/Contents` string carries after the CMS blob).
pub(crate) fn single<'a>(
    input: &'a [u8],
    tag: u8,
    what: &'static str,
) -> Result<Tlv<'a>, CmsFormatError> {
    let (tlv, rest) = Tlv::expect(input, tag, what)?;
    match rest.iter().all(|&octet| octet == 0) {
        true => Ok(tlv),
        false => Err(CmsFormatError::TrailingData),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_lengths_are_refused_without_panicking() {
        for input in [
            &b""[..],
            b"\x30",
            b"\x30\x84\xff\xff\xff\xff",
            b"\x30\x85\x01\x01\x01\x01\x01",
            b"\x30\x80\x00\x00",
            b"\x1f\x01\x00",
            b"\x30\x02\x01",
        ] {
            assert!(Tlv::read(input).is_err(), "{input:?}");
        }
    }

    #[test]
    fn children_are_counted_and_bounded() {
        let set = [0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02];
        let (tlv, _) = Tlv::read(&set).unwrap();
        assert_eq!(tlv.children(2, "x").unwrap().len(), 2);
        assert!(matches!(
            tlv.children(1, "x"),
            Err(CmsFormatError::TooMany { limit: 1, .. })
        ));
    }

    #[test]
    fn only_zero_padding_may_follow() {
        assert!(single(&[0x05, 0x00, 0x00, 0x00], 0x05, "null").is_ok());
        assert!(matches!(
            single(&[0x05, 0x00, 0x01], 0x05, "null"),
            Err(CmsFormatError::TrailingData)
        ));
    }
}
