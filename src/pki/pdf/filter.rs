//! Decoding of the streams the structure lives in (cross-reference and object
//! streams): FlateDecode with PNG/TIFF-free predictors, bounded against zip bombs.
//! Page content is never decoded: changes are judged on the raw bytes.

use std::io::Read;

use super::object::{Dict, Object, Stream};
use super::PdfError;

/// A structure stream larger than this once decoded is refused (a zip bomb, or a file
/// far beyond what a signed government document needs).
pub const MAX_DECODED_STREAM: usize = 32 * 1024 * 1024;

/// The decoded data of `stream`: no filter, or `/FlateDecode` (alone or in a one-item
/// array) with an optional PNG predictor.
pub fn decode(stream: &Stream) -> Result<Vec<u8>, PdfError> {
    let filter = match stream.dict.get(b"Filter") {
        None => None,
        Some(Object::Name(name)) => Some(name.as_slice()),
        Some(Object::Array(items)) if items.is_empty() => None,
        Some(Object::Array(items)) if items.len() == 1 => items[0].as_name(),
        Some(_) => return Err(PdfError::unsupported("a chain of stream filters")),
    };
    let data = match filter {
        None => stream.data.clone(),
        Some(b"FlateDecode") => inflate(&stream.data)?,
        Some(other) => {
            return Err(PdfError::unsupported(&format!(
                "the /{} filter on a structure stream",
                String::from_utf8_lossy(other)
            )))
        }
    };
    let params = match stream.dict.get(b"DecodeParms") {
        Some(Object::Dictionary(params)) => Some(params),
        Some(Object::Array(items)) => items.first().and_then(Object::as_dict),
        _ => None,
    };
    match params {
        Some(params) => unpredict(data, params),
        None => Ok(data),
    }
}

fn inflate(data: &[u8]) -> Result<Vec<u8>, PdfError> {
    let mut out = Vec::new();
    let decoder = flate2::read::ZlibDecoder::new(data);
    decoder
        .take(MAX_DECODED_STREAM as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| PdfError::Malformed(format!("a FlateDecode stream does not inflate: {e}")))?;
    if out.len() > MAX_DECODED_STREAM {
        return Err(PdfError::TooLarge(format!(
            "a structure stream inflates beyond {MAX_DECODED_STREAM} bytes"
        )));
    }
    Ok(out)
}

/// Undoes a PNG predictor (ISO 32000-1 §7.4.4.4), as xref streams commonly use (`/Predictor 12`).
fn unpredict(data: Vec<u8>, params: &Dict) -> Result<Vec<u8>, PdfError> {
    let predictor = params.integer(b"Predictor").unwrap_or(1);
    if predictor == 1 {
        return Ok(data);
    }
    if predictor < 10 {
        return Err(PdfError::unsupported("the TIFF predictor"));
    }
    let colors = params.integer(b"Colors").unwrap_or(1);
    let bits = params.integer(b"BitsPerComponent").unwrap_or(8);
    let columns = params.integer(b"Columns").unwrap_or(1);
    let bpp = usize::try_from(((colors * bits) + 7) / 8)
        .ok()
        .filter(|bpp| (1..=16).contains(bpp));
    let row = usize::try_from((colors * bits * columns + 7) / 8)
        .ok()
        .filter(|row| (1..=1 << 20).contains(row));
    let (Some(bpp), Some(row)) = (bpp, row) else {
        return Err(PdfError::Malformed("invalid predictor parameters".into()));
    };
    let mut out = Vec::with_capacity(data.len());
    let mut previous = vec![0u8; row];
    for chunk in data.chunks(row + 1) {
        let (kind, encoded) = chunk.split_first().unwrap_or((&0u8, &[][..]));
        let mut current = encoded.to_vec();
        current.resize(row, 0);
        for i in 0..row {
            let left = if i >= bpp { current[i - bpp] } else { 0 };
            let up = previous[i];
            let up_left = if i >= bpp { previous[i - bpp] } else { 0 };
            let predicted = match *kind {
                0 => 0,
                1 => left,
                2 => up,
                3 => ((u16::from(left) + u16::from(up)) / 2) as u8,
                4 => paeth(left, up, up_left),
                _ => return Err(PdfError::Malformed("invalid PNG predictor row".into())),
            };
            current[i] = current[i].wrapping_add(predicted);
        }
        out.extend_from_slice(&current[..encoded.len().min(row)]);
        previous = current;
    }
    Ok(out)
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn stream(dict: Dict, data: Vec<u8>) -> Stream {
        Stream { dict, data }
    }

    #[test]
    fn png_up_predictor_round_trips() {
        let rows = [[1u8, 0, 10], [1, 0, 12]];
        let mut encoded = Vec::new();
        encoded.extend_from_slice(&[2, 1, 0, 10]);
        encoded.extend_from_slice(&[2, 0, 0, 2]);
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(&encoded).unwrap();
        let params = Dict(vec![
            (b"Predictor".to_vec(), Object::Integer(12)),
            (b"Columns".to_vec(), Object::Integer(3)),
        ]);
        let dict = Dict(vec![
            (b"Filter".to_vec(), Object::Name(b"FlateDecode".to_vec())),
            (b"DecodeParms".to_vec(), Object::Dictionary(params)),
        ]);
        let decoded = decode(&stream(dict, zlib.finish().unwrap())).unwrap();
        assert_eq!(decoded, rows.concat());
    }

    #[test]
    fn a_zip_bomb_is_refused() {
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..40 {
            zlib.write_all(&zeros).unwrap();
        }
        let dict = Dict(vec![(
            b"Filter".to_vec(),
            Object::Name(b"FlateDecode".to_vec()),
        )]);
        let result = decode(&stream(dict, zlib.finish().unwrap()));
        assert!(matches!(result, Err(PdfError::TooLarge(_))));
    }
}
