//! Message digests of signed content. Every format verifier hashes what a signature
//! covers through here: one place that knows the digest OIDs, streams large content in
//! fixed-size chunks (memory stays flat for a 1 GB file) and refuses algorithms it
//! does not know instead of guessing.

use std::io::{self, Read};

use aws_lc_rs::digest;

/// Read buffer for streaming digests: large enough that syscalls do not dominate,
/// small enough to stay in L2.
const CHUNK: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DigestAlgorithm {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlgorithm {
    /// By the dotted OID of the AlgorithmIdentifier (CMS digestAlgorithm, OCSP
    /// CertID hashAlgorithm, ...).
    pub fn from_oid(oid: &str) -> Option<DigestAlgorithm> {
        match oid {
            "1.3.14.3.2.26" => Some(DigestAlgorithm::Sha1),
            "2.16.840.1.101.3.4.2.1" => Some(DigestAlgorithm::Sha256),
            "2.16.840.1.101.3.4.2.2" => Some(DigestAlgorithm::Sha384),
            "2.16.840.1.101.3.4.2.3" => Some(DigestAlgorithm::Sha512),
            _ => None,
        }
    }

    /// By the XML-DSig DigestMethod URI.
    pub fn from_xmldsig_uri(uri: &str) -> Option<DigestAlgorithm> {
        match uri {
            "http://www.w3.org/2000/09/xmldsig#sha1" => Some(DigestAlgorithm::Sha1),
            "http://www.w3.org/2001/04/xmlenc#sha256" => Some(DigestAlgorithm::Sha256),
            "http://www.w3.org/2001/04/xmldsig-more#sha384" => Some(DigestAlgorithm::Sha384),
            "http://www.w3.org/2001/04/xmlenc#sha512" => Some(DigestAlgorithm::Sha512),
            _ => None,
        }
    }

    pub fn oid(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha1 => "1.3.14.3.2.26",
            DigestAlgorithm::Sha256 => "2.16.840.1.101.3.4.2.1",
            DigestAlgorithm::Sha384 => "2.16.840.1.101.3.4.2.2",
            DigestAlgorithm::Sha512 => "2.16.840.1.101.3.4.2.3",
        }
    }

    /// The name a report shows (`sha-256`).
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha1 => "sha-1",
            DigestAlgorithm::Sha256 => "sha-256",
            DigestAlgorithm::Sha384 => "sha-384",
            DigestAlgorithm::Sha512 => "sha-512",
        }
    }

    /// SHA-1 is only acceptable under [`super::CryptoPolicy::LEGACY`].
    pub fn is_legacy(self) -> bool {
        self == DigestAlgorithm::Sha1
    }

    pub fn output_len(self) -> usize {
        self.aws_lc().output_len()
    }

    fn aws_lc(self) -> &'static digest::Algorithm {
        match self {
            DigestAlgorithm::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            DigestAlgorithm::Sha256 => &digest::SHA256,
            DigestAlgorithm::Sha384 => &digest::SHA384,
            DigestAlgorithm::Sha512 => &digest::SHA512,
        }
    }

    /// A running digest, for content that arrives in pieces.
    pub fn start(self) -> Digester {
        Digester(digest::Context::new(self.aws_lc()))
    }

    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.aws_lc(), data).as_ref().to_vec()
    }

    /// Digests everything `reader` yields, in [`CHUNK`]-sized reads.
    pub fn digest_reader(self, reader: &mut dyn Read) -> io::Result<Vec<u8>> {
        let mut digests = digest_all(reader, &[self])?;
        Ok(digests.pop().unwrap_or_default())
    }
}

/// A digest in progress.
pub struct Digester(digest::Context);

impl Digester {
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// Feeds at most `limit` bytes of `reader` (fewer at its end); returns how many.
    pub fn update_from(&mut self, reader: &mut dyn Read, limit: u64) -> io::Result<u64> {
        let mut buffer = vec![0u8; CHUNK];
        let mut total = 0u64;
        while total < limit {
            let want = (limit - total).min(CHUNK as u64) as usize;
            let read = match reader.read(&mut buffer[..want]) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            self.0.update(&buffer[..read]);
            total += read as u64;
        }
        Ok(total)
    }

    pub fn finish(self) -> Vec<u8> {
        self.0.finish().as_ref().to_vec()
    }
}

/// Content a signature covers. A verifier learns which digest algorithms it needs only
/// from the signature, and large content can be read only once, so it asks for all
/// of them together and the content is hashed in one pass.
pub trait SignedContent {
    /// The digest of the whole content under each of `algorithms`, in that order.
    fn digests(&mut self, algorithms: &[DigestAlgorithm]) -> io::Result<Vec<Vec<u8>>>;
}

impl SignedContent for &[u8] {
    fn digests(&mut self, algorithms: &[DigestAlgorithm]) -> io::Result<Vec<Vec<u8>>> {
        Ok(algorithms
            .iter()
            .map(|algorithm| algorithm.digest(self))
            .collect())
    }
}

/// Content streamed from a reader (a large detached file, a request body). It can be
/// hashed once: a second call is an error rather than the digest of nothing.
pub struct StreamedContent<R> {
    reader: Option<R>,
}

impl<R: Read> StreamedContent<R> {
    pub fn new(reader: R) -> StreamedContent<R> {
        StreamedContent {
            reader: Some(reader),
        }
    }
}

impl<R: Read> SignedContent for StreamedContent<R> {
    fn digests(&mut self, algorithms: &[DigestAlgorithm]) -> io::Result<Vec<Vec<u8>>> {
        let mut reader = self
            .reader
            .take()
            .ok_or_else(|| io::Error::other("streamed content was already hashed"))?;
        digest_all(&mut reader, algorithms)
    }
}

/// Hashes `reader` under every algorithm in one pass of [`CHUNK`]-sized reads.
pub fn digest_all(
    reader: &mut dyn Read,
    algorithms: &[DigestAlgorithm],
) -> io::Result<Vec<Vec<u8>>> {
    let mut digesters: Vec<Digester> = algorithms
        .iter()
        .map(|algorithm| algorithm.start())
        .collect();
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        for digester in &mut digesters {
            digester.update(&buffer[..read]);
        }
    }
    Ok(digesters.into_iter().map(Digester::finish).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_and_one_shot_digests_agree_across_chunk_boundaries() {
        let data: Vec<u8> = (0..(CHUNK * 2 + 17)).map(|i| (i % 251) as u8).collect();
        for algorithm in [
            DigestAlgorithm::Sha1,
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha384,
            DigestAlgorithm::Sha512,
        ] {
            let streamed = algorithm.digest_reader(&mut data.as_slice()).unwrap();
            assert_eq!(streamed, algorithm.digest(&data), "{algorithm:?}");
            assert_eq!(streamed.len(), algorithm.output_len());
        }
    }

    #[test]
    fn streamed_content_hashes_once_under_every_algorithm() {
        let data = b"quyet dinh so 123".to_vec();
        let algorithms = [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512];
        let mut content = StreamedContent::new(data.as_slice());
        let digests = content.digests(&algorithms).unwrap();
        assert_eq!(digests, data.as_slice().digests(&algorithms).unwrap());
        assert!(content.digests(&algorithms).is_err());
    }

    #[test]
    fn a_limited_update_stops_at_the_limit() {
        let data = [7u8; 1000];
        let mut digester = DigestAlgorithm::Sha256.start();
        let fed = digester.update_from(&mut data.as_slice(), 10).unwrap();
        assert_eq!(fed, 10);
        assert_eq!(
            digester.finish(),
            DigestAlgorithm::Sha256.digest(&data[..10])
        );
    }

    #[test]
    fn oids_round_trip_and_unknown_ones_are_refused() {
        for algorithm in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512] {
            assert_eq!(DigestAlgorithm::from_oid(algorithm.oid()), Some(algorithm));
        }
        assert_eq!(DigestAlgorithm::from_oid("1.2.840.113549.2.5"), None); // MD5
    }
}
