//! The few certificate fields rkube reads itself, from DER: the subject's
//! common name and organizations (how a client certificate names a user
//! and its groups) and the subject public key (to check that `ca.key`
//! belongs to `ca.crt`).
//!
//! Client certificates reach this only after rustls verified them (webpki
//! parsed them strictly), so this reader just walks the fixed path through
//! `TBSCertificate`: it is small, checks every length, and answers `None`
//! on anything unexpected rather than guessing.

/// `2.5.4.3`, id-at-commonName.
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// `2.5.4.10`, id-at-organizationName.
const OID_ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];

const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_OID: u8 = 0x06;
const TAG_INTEGER: u8 = 0x02;
/// `[0] EXPLICIT`: the certificate's version field.
const TAG_VERSION: u8 = 0xa0;
const TAG_UTF8_STRING: u8 = 0x0c;
const TAG_PRINTABLE_STRING: u8 = 0x13;
const TAG_TELETEX_STRING: u8 = 0x14;
const TAG_IA5_STRING: u8 = 0x16;
const TAG_BMP_STRING: u8 = 0x1e;

/// The subject's common name and organizations, in certificate order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubjectNames {
    pub common_name: Option<String>,
    pub organizations: Vec<String>,
}

/// Read the subject's common name and organizations from a DER certificate.
pub fn subject_names(cert_der: &[u8]) -> Option<SubjectNames> {
    let mut tbs = tbs_at_subject(cert_der)?;
    let subject = tbs.expect(TAG_SEQUENCE)?;

    let mut names = SubjectNames::default();
    let mut rdns = Der::new(subject);
    while !rdns.is_empty() {
        let mut rdn = Der::new(rdns.expect(TAG_SET)?);
        while !rdn.is_empty() {
            let mut attribute = Der::new(rdn.expect(TAG_SEQUENCE)?);
            let oid = attribute.expect(TAG_OID)?;
            let (tag, value) = attribute.next()?;
            if oid == OID_COMMON_NAME {
                // Go's pkix takes the last common name; so do we.
                names.common_name = Some(decode_string(tag, value)?);
            } else if oid == OID_ORGANIZATION {
                names.organizations.push(decode_string(tag, value)?);
            }
        }
    }
    Some(names)
}

/// The subject public key info (the whole DER element, as
/// `rcgen::KeyPair::public_key_der` gives it) of a DER certificate.
pub fn subject_public_key_info(cert_der: &[u8]) -> Option<&[u8]> {
    let mut tbs = tbs_at_subject(cert_der)?;
    tbs.expect(TAG_SEQUENCE)?; // subject
    let (tag, _, whole) = tbs.next_element()?;
    (tag == TAG_SEQUENCE).then_some(whole)
}

/// A cursor on the certificate's `TBSCertificate`, just before `subject`.
fn tbs_at_subject(cert_der: &[u8]) -> Option<Der<'_>> {
    let mut outer = Der::new(cert_der);
    let certificate = outer.expect(TAG_SEQUENCE)?;
    let mut certificate = Der::new(certificate);
    let mut tbs = Der::new(certificate.expect(TAG_SEQUENCE)?);
    if tbs.peek_tag() == Some(TAG_VERSION) {
        tbs.next()?;
    }
    tbs.expect(TAG_INTEGER)?; // serialNumber
    tbs.expect(TAG_SEQUENCE)?; // signature algorithm
    tbs.expect(TAG_SEQUENCE)?; // issuer
    tbs.expect(TAG_SEQUENCE)?; // validity
    Some(tbs)
}

/// Decode one of the string types a distinguished name may use.
fn decode_string(tag: u8, value: &[u8]) -> Option<String> {
    match tag {
        TAG_UTF8_STRING | TAG_PRINTABLE_STRING | TAG_IA5_STRING => {
            String::from_utf8(value.to_vec()).ok()
        }
        // T.61 in theory; Latin-1 in practice (what Go and OpenSSL assume).
        TAG_TELETEX_STRING => Some(value.iter().map(|&b| char::from(b)).collect()),
        TAG_BMP_STRING => {
            let pairs = value.chunks_exact(2);
            if !pairs.remainder().is_empty() {
                return None;
            }
            let units = pairs.map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        _ => None,
    }
}

/// A cursor over a run of DER tag-length-value items.
struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Der { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next item's tag and contents.
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (tag, contents, _) = self.next_element()?;
        Some((tag, contents))
    }

    /// The next item's tag, contents, and whole encoding (tag and length too).
    fn next_element(&mut self) -> Option<(u8, &'a [u8], &'a [u8])> {
        let start = self.rest;
        let (&tag, rest) = self.rest.split_first()?;
        if tag & 0x1f == 0x1f {
            return None; // multi-byte tags never occur in a certificate's path to the subject
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return None; // indefinite length (not DER) or absurdly long
            }
            let (bytes, after) = rest.split_at_checked(count)?;
            rest = after;
            bytes
                .iter()
                .fold(0usize, |len, &b| (len << 8) | usize::from(b))
        };
        let (contents, after) = rest.split_at_checked(len)?;
        let whole = &start[..start.len() - after.len()];
        self.rest = after;
        Some((tag, contents, whole))
    }

    /// The next item's contents, if it has tag `tag`.
    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.next()? {
            (found, contents) if found == tag => Some(contents),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, KeyPair};

    fn cert_with(dn: DistinguishedName) -> Vec<u8> {
        let mut params = CertificateParams::default();
        params.distinguished_name = dn;
        let key = KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").der().to_vec()
    }

    #[test]
    fn reads_common_name_and_organizations() {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "system:masters");
        dn.push(DnType::CommonName, "kubernetes-admin");
        // rcgen keys names by type; the same OID spelled as a custom type
        // gives a second organization.
        dn.push(DnType::CustomDnType(vec![2, 5, 4, 10]), "team-a");
        let names = subject_names(&cert_with(dn)).expect("parsed");
        assert_eq!(names.common_name.as_deref(), Some("kubernetes-admin"));
        assert_eq!(names.organizations, ["system:masters", "team-a"]);
    }

    #[test]
    fn reads_other_string_types() {
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            DnValue::PrintableString("printable".try_into().expect("printable")),
        );
        dn.push(
            DnType::OrganizationName,
            DnValue::BmpString("bmp-ü".try_into().expect("bmp")),
        );
        let names = subject_names(&cert_with(dn)).expect("parsed");
        assert_eq!(names.common_name.as_deref(), Some("printable"));
        assert_eq!(names.organizations, ["bmp-ü"]);
    }

    #[test]
    fn reads_the_public_key() {
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::default()
            .self_signed(&key)
            .expect("cert");
        assert_eq!(
            subject_public_key_info(cert.der()),
            Some(key.public_key_der().as_slice())
        );
    }

    #[test]
    fn empty_subject() {
        let names = subject_names(&cert_with(DistinguishedName::new())).expect("parsed");
        assert_eq!(names, SubjectNames::default());
    }

    #[test]
    fn garbage_and_truncations_give_none_without_panicking() {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "x");
        let der = cert_with(dn);
        for len in 0..der.len() {
            // The outer length no longer fits.
            assert_eq!(subject_names(&der[..len]), None, "truncated to {len}");
        }
        assert_eq!(subject_names(&[]), None);
        assert_eq!(subject_names(&[0x30, 0x80, 0, 0]), None);
        assert_eq!(subject_names(&[0x30, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(subject_names(&[0x1f, 0x01, 0x00]), None);
        let mut noise = 0x1234_5678u32;
        for _ in 0..2000 {
            let bytes: Vec<u8> = (0..64)
                .map(|_| {
                    noise ^= noise << 13;
                    noise ^= noise >> 17;
                    noise ^= noise << 5;
                    noise as u8
                })
                .collect();
            let _ = subject_names(&bytes);
        }
    }
}
