//! Just enough `multipart/form-data` (RFC 7578) for the API's two-part form: the
//! signature and the signed content. Works on the already size-limited body and hands
//! out slices of it (no copies). Parts beyond [`MAX_PARTS`] are an error, not ignored.

use bytes::Bytes;

pub const MAX_PARTS: usize = 8;
/// Part headers are short; a longer head is refused.
const MAX_PART_HEAD: usize = 4096;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    #[error("the multipart content type has no boundary")]
    NoBoundary,
    #[error("the body is not multipart data with the declared boundary")]
    Malformed,
    #[error("more than {MAX_PARTS} parts")]
    TooManyParts,
    #[error("a part has no name (Content-Disposition: form-data; name=...)")]
    UnnamedPart,
}

/// One form field.
#[derive(Debug)]
pub struct Part {
    pub name: String,
    pub data: Bytes,
}

/// The boundary of a `multipart/form-data` content type, `None` for anything else.
pub fn boundary(content_type: &str) -> Option<Result<String, MultipartError>> {
    let mut params = content_type.split(';');
    let essence = params.next()?.trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary = params.find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_string())
    });
    Some(match boundary {
        Some(boundary) if !boundary.is_empty() && boundary.len() <= 70 => Ok(boundary),
        _ => Err(MultipartError::NoBoundary),
    })
}

pub fn parse(body: &Bytes, boundary: &str) -> Result<Vec<Part>, MultipartError> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut position = find(body, delimiter, 0).ok_or(MultipartError::Malformed)?;
    let mut parts = Vec::new();
    loop {
        position += delimiter.len();
        let rest = &body[position..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        if !rest.starts_with(b"\r\n") {
            return Err(MultipartError::Malformed);
        }
        position += 2;
        if parts.len() == MAX_PARTS {
            return Err(MultipartError::TooManyParts);
        }
        let head_end = find(body, b"\r\n\r\n", position)
            .filter(|end| end - position <= MAX_PART_HEAD)
            .ok_or(MultipartError::Malformed)?;
        let head = std::str::from_utf8(&body[position..head_end])
            .map_err(|_| MultipartError::Malformed)?;
        let name = part_name(head).ok_or(MultipartError::UnnamedPart)?;
        let data_start = head_end + 4;
        let mut closing = b"\r\n".to_vec();
        closing.extend_from_slice(delimiter);
        let data_end = find(body, &closing, data_start).ok_or(MultipartError::Malformed)?;
        parts.push(Part {
            name,
            data: body.slice(data_start..data_end),
        });
        position = data_end + 2;
    }
}

/// `name` of `Content-Disposition: form-data; name="signature"; filename="a.p7s"`.
fn part_name(head: &str) -> Option<String> {
    head.split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .find(|(header, _)| header.trim().eq_ignore_ascii_case("content-disposition"))
        .and_then(|(_, value)| {
            value.split(';').find_map(|param| {
                let (key, value) = param.split_once('=')?;
                (key.trim() == "name").then(|| value.trim().trim_matches('"').to_string())
            })
        })
        .filter(|name| !name.is_empty())
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|at| at + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"signature\"; filename=\"a.p7s\"\r\nContent-Type: application/pkcs7-signature\r\n\r\n\x30\x82\r\n--X\r\n--XyZ\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\nhello\r\n--XyZ--\r\n";

    #[test]
    fn parts_are_split_at_the_boundary_only() {
        let boundary = boundary("multipart/form-data; boundary=\"XyZ\"")
            .unwrap()
            .unwrap();
        let parts = parse(&Bytes::from_static(BODY), &boundary).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "signature");
        assert_eq!(&parts[0].data[..], b"\x30\x82\r\n--X");
        assert_eq!(parts[1].name, "content");
        assert_eq!(&parts[1].data[..], b"hello");
    }

    #[test]
    fn broken_bodies_are_errors() {
        assert_eq!(boundary("application/pdf"), None);
        assert_eq!(
            boundary("multipart/form-data"),
            Some(Err(MultipartError::NoBoundary))
        );
        let truncated = Bytes::from_static(&BODY[..60]);
        assert!(parse(&truncated, "XyZ").is_err());
        let unnamed = Bytes::from_static(b"--b\r\nContent-Type: x\r\n\r\nx\r\n--b--");
        assert_eq!(
            parse(&unnamed, "b").unwrap_err(),
            MultipartError::UnnamedPart
        );
        let many: Vec<u8> = (0..=MAX_PARTS)
            .flat_map(|i| {
                format!("--b\r\nContent-Disposition: form-data; name=\"p{i}\"\r\n\r\nx\r\n")
                    .into_bytes()
            })
            .chain(b"--b--".iter().copied())
            .collect();
        assert_eq!(
            parse(&Bytes::from(many), "b").unwrap_err(),
            MultipartError::TooManyParts
        );
    }
}
