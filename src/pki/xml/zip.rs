//! Reading the zip archives edXML attachments often are: the central directory, then
//! each entry (stored or deflated, with flate2), bounded against zip bombs — entry
//! count, each entry's expansion ratio and the total uncompressed size — and checked
//! against its CRC-32. Written here rather than taken from the `zip` crate because
//! listing and inflating is all that is needed, and every length read from the archive
//! has to be distrusted anyway.
//!
//! Not supported (refused with a clear error): ZIP64, encryption, methods other than
//! stored and deflate, multi-disk archives.

use std::io::Read;

use flate2::read::DeflateDecoder;

const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
const CENTRAL_DIRECTORY_ENTRY: u32 = 0x0201_4b50;
const LOCAL_FILE_HEADER: u32 = 0x0403_4b50;
const END_RECORD_LEN: usize = 22;
const CENTRAL_ENTRY_LEN: usize = 46;
const LOCAL_HEADER_LEN: usize = 30;
/// Small entries may compress far beyond any ratio (a page of blanks); below this
/// many uncompressed bytes the ratio limit does not apply.
const RATIO_FREE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipError {
    #[error("not a zip archive (no end of central directory record)")]
    NoEndRecord,
    #[error("the zip archive is truncated or its offsets are wrong ({0})")]
    Truncated(&'static str),
    #[error("ZIP64 and multi-disk archives are not supported")]
    Zip64,
    #[error("the archive has more than {0} entries")]
    TooManyEntries(usize),
    #[error("entry {0}: encrypted entries are not supported")]
    Encrypted(String),
    #[error("entry {0}: compression method {1} is not supported (only stored and deflate)")]
    Method(String, u16),
    #[error("entry {0}: expands beyond the allowed size (zip bomb protection)")]
    TooLarge(String),
    #[error("entry {0}: the data is corrupt ({1})")]
    Corrupt(String, &'static str),
}

/// Bounds for one archive.
#[derive(Debug, Clone, Copy)]
pub struct ZipLimits {
    pub max_entries: usize,
    /// Uncompressed bytes of all entries together.
    pub max_total: u64,
    pub max_ratio: u64,
}

#[derive(Debug, Clone)]
pub struct ZipEntry {
    pub name: String,
    pub data: Vec<u8>,
}

pub fn is_zip(data: &[u8]) -> bool {
    data.starts_with(b"PK\x03\x04")
}

/// Every file entry of the archive (directories skipped), decompressed.
pub fn read_archive(archive: &[u8], limits: &ZipLimits) -> Result<Vec<ZipEntry>, ZipError> {
    let end = find_end_record(archive)?;
    let disk = u16_at(archive, end + 4)?;
    let count = usize::from(u16_at(archive, end + 10)?);
    let directory_offset = u32_at(archive, end + 16)?;
    if disk != 0 || count == 0xFFFF || directory_offset == u32::MAX {
        return Err(ZipError::Zip64);
    }
    if count > limits.max_entries {
        return Err(ZipError::TooManyEntries(limits.max_entries));
    }
    let mut position = directory_offset as usize;
    let mut remaining = limits.max_total;
    let mut entries = Vec::new();
    for _ in 0..count {
        let header = CentralEntry::read(archive, position)?;
        position = header.next;
        if header.name.ends_with('/') {
            continue;
        }
        let data = extract(archive, &header, limits, remaining)?;
        remaining = remaining.saturating_sub(data.len() as u64);
        entries.push(ZipEntry {
            name: header.name,
            data,
        });
    }
    Ok(entries)
}

fn find_end_record(archive: &[u8]) -> Result<usize, ZipError> {
    if archive.len() < END_RECORD_LEN {
        return Err(ZipError::NoEndRecord);
    }
    // The record is at the end, followed by a comment of at most 65535 bytes.
    let lowest = archive.len().saturating_sub(END_RECORD_LEN + 0xFFFF);
    (lowest..=archive.len() - END_RECORD_LEN)
        .rev()
        .find(|&offset| u32_at(archive, offset).ok() == Some(END_OF_CENTRAL_DIRECTORY))
        .ok_or(ZipError::NoEndRecord)
}

struct CentralEntry {
    name: String,
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    local_header: usize,
    next: usize,
}

impl CentralEntry {
    fn read(archive: &[u8], at: usize) -> Result<CentralEntry, ZipError> {
        if u32_at(archive, at)? != CENTRAL_DIRECTORY_ENTRY {
            return Err(ZipError::Truncated("central directory entry"));
        }
        let name_len = usize::from(u16_at(archive, at + 28)?);
        let extra_len = usize::from(u16_at(archive, at + 30)?);
        let comment_len = usize::from(u16_at(archive, at + 32)?);
        let name_start = at + CENTRAL_ENTRY_LEN;
        let name = archive
            .get(name_start..name_start + name_len)
            .ok_or(ZipError::Truncated("entry name"))?;
        let compressed = u32_at(archive, at + 20)?;
        let uncompressed = u32_at(archive, at + 24)?;
        let local_header = u32_at(archive, at + 42)?;
        if compressed == u32::MAX || uncompressed == u32::MAX || local_header == u32::MAX {
            return Err(ZipError::Zip64);
        }
        Ok(CentralEntry {
            name: String::from_utf8_lossy(name).into_owned(),
            flags: u16_at(archive, at + 8)?,
            method: u16_at(archive, at + 10)?,
            crc: u32_at(archive, at + 16)?,
            compressed: u64::from(compressed),
            uncompressed: u64::from(uncompressed),
            local_header: local_header as usize,
            next: name_start + name_len + extra_len + comment_len,
        })
    }
}

fn extract(
    archive: &[u8],
    entry: &CentralEntry,
    limits: &ZipLimits,
    remaining: u64,
) -> Result<Vec<u8>, ZipError> {
    if entry.flags & 1 != 0 {
        return Err(ZipError::Encrypted(entry.name.clone()));
    }
    let at = entry.local_header;
    if u32_at(archive, at)? != LOCAL_FILE_HEADER {
        return Err(ZipError::Truncated("local file header"));
    }
    let name_len = usize::from(u16_at(archive, at + 26)?);
    let extra_len = usize::from(u16_at(archive, at + 28)?);
    let start = at + LOCAL_HEADER_LEN + name_len + extra_len;
    let compressed = archive
        .get(start..start.saturating_add(entry.compressed as usize))
        .ok_or(ZipError::Truncated("entry data"))?;
    // The declared size is only a claim: the limit is enforced on what inflates.
    let ratio_limit = entry
        .compressed
        .saturating_mul(limits.max_ratio)
        .max(RATIO_FREE_BYTES);
    let limit = ratio_limit.min(remaining);
    if entry.uncompressed > limit {
        return Err(ZipError::TooLarge(entry.name.clone()));
    }
    let data = match entry.method {
        0 => compressed.to_vec(),
        8 => inflate(compressed, limit, &entry.name)?,
        method => return Err(ZipError::Method(entry.name.clone(), method)),
    };
    if data.len() as u64 != entry.uncompressed {
        return Err(ZipError::Corrupt(
            entry.name.clone(),
            "size differs from the directory",
        ));
    }
    let mut crc = flate2::Crc::new();
    crc.update(&data);
    if crc.sum() != entry.crc {
        return Err(ZipError::Corrupt(entry.name.clone(), "CRC-32 mismatch"));
    }
    Ok(data)
}

fn inflate(compressed: &[u8], limit: u64, name: &str) -> Result<Vec<u8>, ZipError> {
    let mut data = Vec::new();
    DeflateDecoder::new(compressed)
        .take(limit.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|_| ZipError::Corrupt(name.to_string(), "invalid deflate stream"))?;
    if data.len() as u64 > limit {
        return Err(ZipError::TooLarge(name.to_string()));
    }
    Ok(data)
}

fn u16_at(data: &[u8], at: usize) -> Result<u16, ZipError> {
    data.get(at..at.saturating_add(2))
        .and_then(|bytes| bytes.try_into().ok())
        .map(u16::from_le_bytes)
        .ok_or(ZipError::Truncated("header field"))
}

fn u32_at(data: &[u8], at: usize) -> Result<u32, ZipError> {
    data.get(at..at.saturating_add(4))
        .and_then(|bytes| bytes.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or(ZipError::Truncated("header field"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ZipLimits = ZipLimits {
        max_entries: 4,
        max_total: 1 << 20,
        max_ratio: 100,
    };

    /// A one-entry archive, stored (method 0), built by hand.
    fn stored_zip(name: &str, data: &[u8]) -> Vec<u8> {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let size = (data.len() as u32).to_le_bytes();
        let name_len = (name.len() as u16).to_le_bytes();
        let mut zip = Vec::new();
        zip.extend_from_slice(&LOCAL_FILE_HEADER.to_le_bytes());
        zip.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        zip.extend_from_slice(&crc.sum().to_le_bytes());
        zip.extend_from_slice(&size);
        zip.extend_from_slice(&size);
        zip.extend_from_slice(&name_len);
        zip.extend_from_slice(&[0, 0]);
        zip.extend_from_slice(name.as_bytes());
        zip.extend_from_slice(data);
        let directory = zip.len() as u32;
        zip.extend_from_slice(&CENTRAL_DIRECTORY_ENTRY.to_le_bytes());
        zip.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        zip.extend_from_slice(&crc.sum().to_le_bytes());
        zip.extend_from_slice(&size);
        zip.extend_from_slice(&size);
        zip.extend_from_slice(&name_len);
        zip.extend_from_slice(&[0; 12]);
        zip.extend_from_slice(&0u32.to_le_bytes());
        zip.extend_from_slice(name.as_bytes());
        let directory_len = zip.len() as u32 - directory;
        zip.extend_from_slice(&END_OF_CENTRAL_DIRECTORY.to_le_bytes());
        zip.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
        zip.extend_from_slice(&directory_len.to_le_bytes());
        zip.extend_from_slice(&directory.to_le_bytes());
        zip.extend_from_slice(&[0, 0]);
        zip
    }

    #[test]
    fn a_stored_entry_is_read_back() {
        let zip = stored_zip("qd.pdf", b"%PDF-1.7 body");
        assert!(is_zip(&zip));
        let entries = read_archive(&zip, &LIMITS).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].name, "qd.pdf");
        assert_eq!(entries[0].data, b"%PDF-1.7 body");
    }

    #[test]
    fn a_corrupted_entry_fails_its_crc() {
        let mut zip = stored_zip("qd.pdf", b"%PDF-1.7 body");
        let at = 30 + "qd.pdf".len() + 2;
        zip[at] ^= 1;
        assert!(matches!(
            read_archive(&zip, &LIMITS),
            Err(ZipError::Corrupt(_, _))
        ));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let zip = stored_zip("qd.pdf", b"%PDF-1.7 body");
        for length in 0..zip.len() {
            assert!(read_archive(&zip[..length], &LIMITS).is_err(), "{length}");
        }
    }

    #[test]
    fn an_entry_beyond_the_total_is_refused() {
        let zip = stored_zip("big.bin", &[7u8; 2048]);
        let tight = ZipLimits {
            max_total: 1024,
            ..LIMITS
        };
        assert!(matches!(
            read_archive(&zip, &tight),
            Err(ZipError::TooLarge(_))
        ));
    }
}
