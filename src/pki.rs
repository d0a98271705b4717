//! The company's certificate authority and its node certificates: who a peer is, and which
//! roles' facts it may author.
//!
//! - The first node's `init` makes the cluster CA (ECDSA P-256). Its key stays in that data
//!   directory (0600); it leaves only passphrase-encrypted (`neiqin node export-ca`).
//! - A joining node makes its own key pair and a request (CSR, PEM) naming its node id. Its
//!   private key never leaves it. Both people read the request's short fingerprint aloud.
//! - The admin node signs it: the certificate names the node (`urn:neiqin:node:<id>`) and each
//!   role the node may author facts of (`urn:neiqin:role:<role>`), as SAN URIs. The roles come
//!   from the admin, never from the request.
//! - [`NodeCertificate::verify`] is the one check of a certificate: signed by the cluster CA,
//!   issued by it, within its validity, one node id, known roles.
//!
//! Fingerprints are the first 8 bytes of SHA-256 over the subject public key, shown as four
//! groups of four hex digits: short enough to read aloud, and the same on both machines because
//! the request and the certificate carry the same public key.

use chrono::{DateTime, Duration, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
    SerialNumber,
};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

use crate::domain::role::Role;

pub const NODE_URI_PREFIX: &str = "urn:neiqin:node:";
pub const ROLE_URI_PREFIX: &str = "urn:neiqin:role:";

/// Files in the data directory. Keys are written 0600.
pub const CA_CERT_FILE: &str = "cluster-ca.crt";
pub const CA_KEY_FILE: &str = "cluster-ca.key";
pub const NODE_KEY_FILE: &str = "node.key";
/// A renewal's new key, until its certificate is installed: `node.key` stays the key of the
/// certificate in force, so the node keeps working (and restarts) meanwhile.
pub const NODE_PENDING_KEY_FILE: &str = "node.key.pending";
pub const NODE_CERT_FILE: &str = "node.crt";
pub const NODE_REQUEST_FILE: &str = "node.csr";

/// A node certificate lasts a year; renewal is a new request, approved like a join.
pub const NODE_VALIDITY_DAYS: i64 = 365;
/// The CA outlives every certificate it signs many times over.
const CA_VALIDITY_DAYS: i64 = 20 * 365;
/// Offices' clocks drift: a certificate is valid from a little before it was signed.
const BACKDATE_MINUTES: i64 = 10;
/// A request or certificate larger than this is not one of ours (PEM of a P-256 key is < 2 KiB).
const MAX_PEM_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{0}")]
    Invalid(String),
    #[error("the certificate was not signed by this cluster's CA (another company's node?)")]
    NotOurCa,
    #[error(
        "the certificate of node {node_id} expired at {not_after}; \
         renew it: `neiqin node request` on that node, then `neiqin node approve` on the admin node"
    )]
    Expired {
        node_id: String,
        not_after: DateTime<Utc>,
    },
    #[error(
        "the certificate of node {node_id} is not valid before {not_before} (check the clock)"
    )]
    NotYetValid {
        node_id: String,
        not_before: DateTime<Utc>,
    },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("node {node_id} was revoked by the company's admin ({reason})")]
    Revoked { node_id: String, reason: String },
}

fn invalid(what: &str, e: impl std::fmt::Display) -> PkiError {
    PkiError::Invalid(format!("{what}: {e}"))
}

/// `3f2a-91c0-7b4e-d215`: the first 8 bytes of SHA-256 over a public key.
pub fn short_fingerprint(public_key: &[u8]) -> String {
    let digest = Sha256::digest(public_key);
    digest[..8]
        .chunks(2)
        .map(hex::encode)
        .collect::<Vec<_>>()
        .join("-")
}

fn check_pem_size(pem: &str, what: &str) -> Result<(), PkiError> {
    if pem.len() > MAX_PEM_BYTES {
        return Err(PkiError::Invalid(format!(
            "{what} is {} bytes; at most {MAX_PEM_BYTES} expected",
            pem.len()
        )));
    }
    Ok(())
}

fn to_time(t: DateTime<Utc>) -> Result<time::OffsetDateTime, PkiError> {
    time::OffsetDateTime::from_unix_timestamp(t.timestamp()).map_err(|e| invalid("date", e))
}

fn from_asn1(t: x509_parser::time::ASN1Time) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn uri(s: String) -> Result<SanType, PkiError> {
    Ok(SanType::URI(s.try_into().map_err(|e| invalid("URI", e))?))
}

/// Node ids are the store's Automerge actor in hex; anything else cannot name a node.
fn check_node_id(node_id: &str) -> Result<(), PkiError> {
    if node_id.is_empty() || node_id.len() > 64 || !node_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PkiError::Invalid(format!(
            "node id {node_id:?} is not 1 to 64 hex digits"
        )));
    }
    Ok(())
}

/// The cluster CA, as held by the admin node (certificate and private key).
pub struct ClusterCa {
    cert_pem: String,
    key: KeyPair,
}

impl ClusterCa {
    /// A new CA for one company.
    pub fn generate(company: &str) -> Result<ClusterCa, PkiError> {
        let key = KeyPair::generate().map_err(|e| invalid("CA key", e))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, company);
        dn.push(
            DnType::CommonName,
            format!("neiqin cluster CA of {company}"),
        );
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = Utc::now();
        params.not_before = to_time(now - Duration::minutes(BACKDATE_MINUTES))?;
        params.not_after = to_time(now + Duration::days(CA_VALIDITY_DAYS))?;
        params.serial_number = Some(SerialNumber::from_slice(&rand::random::<[u8; 16]>()));
        let cert = params.self_signed(&key).map_err(|e| invalid("CA", e))?;
        Ok(ClusterCa {
            cert_pem: cert.pem(),
            key,
        })
    }

    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<ClusterCa, PkiError> {
        check_pem_size(cert_pem, "the CA certificate")?;
        let key = KeyPair::from_pem(key_pem).map_err(|e| invalid("CA key", e))?;
        // The key must be the certificate's, or everything it signs is refused later.
        let ca = parse_pem(cert_pem)?;
        if ca.public_key != key.der_bytes() {
            return Err(PkiError::Invalid(
                "the CA key does not belong to the CA certificate".into(),
            ));
        }
        Ok(ClusterCa {
            cert_pem: cert_pem.to_string(),
            key,
        })
    }

    /// Reads the CA from a data directory; `None` on a node that is not the admin node.
    pub fn load(dir: &Path) -> Result<Option<ClusterCa>, PkiError> {
        let key_path = dir.join(CA_KEY_FILE);
        if !key_path.exists() {
            return Ok(None);
        }
        let cert = read_file(&dir.join(CA_CERT_FILE))?;
        let key = read_file(&key_path)?;
        ClusterCa::from_pem(&cert, &key).map(Some)
    }

    /// Writes the CA certificate (public) and key (0600) into a data directory.
    pub fn save(&self, dir: &Path) -> Result<(), PkiError> {
        write_public(&dir.join(CA_CERT_FILE), &self.cert_pem)?;
        write_secret(&dir.join(CA_KEY_FILE), &self.key.serialize_pem())
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key as PEM: for a passphrase-encrypted export only.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// Signs `message` with the CA key (ECDSA P-256, ASN.1 signature): the revocation list.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
        let rng = ring::rand::SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &self.key.serialize_der(),
            &rng,
        )
        .map_err(|e| invalid("CA key", e))?;
        Ok(key
            .sign(&rng, message)
            .map_err(|e| invalid("signing", e))?
            .as_ref()
            .to_vec())
    }

    /// Announced on the LAN and printed at join: which company a node belongs to.
    pub fn fingerprint(&self) -> String {
        short_fingerprint(self.key.der_bytes())
    }

    /// Signs a join request: a certificate for the node the request names, with `roles`,
    /// valid from shortly before `now` for `days` days.
    pub fn approve(
        &self,
        request_pem: &str,
        roles: &[Role],
        now: DateTime<Utc>,
        days: i64,
    ) -> Result<String, PkiError> {
        let request = JoinRequest::parse(request_pem)?;
        self.issue(
            &request,
            roles,
            now - Duration::minutes(BACKDATE_MINUTES),
            now + Duration::days(days),
        )
    }

    /// Issues a certificate valid over exactly `[not_before, not_after]` (tests make expired
    /// ones with it).
    pub fn issue(
        &self,
        request: &JoinRequest,
        roles: &[Role],
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
    ) -> Result<String, PkiError> {
        if roles.is_empty() {
            return Err(PkiError::Invalid(
                "a node certificate names at least one role".into(),
            ));
        }
        let issuer_params = CertificateParams::from_ca_cert_pem(&self.cert_pem)
            .map_err(|e| invalid("CA certificate", e))?;
        let issuer = issuer_params
            .self_signed(&self.key)
            .map_err(|e| invalid("CA certificate", e))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            format!("neiqin node {}", request.node_id),
        );
        params.distinguished_name = dn;
        let mut sans = vec![uri(format!("{NODE_URI_PREFIX}{}", request.node_id))?];
        let mut roles = roles.to_vec();
        roles.sort_by_key(|r| r.as_str());
        roles.dedup();
        for role in &roles {
            sans.push(uri(format!("{ROLE_URI_PREFIX}{role}"))?);
        }
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        // Every node is both server and client of the peer protocol (mutual TLS).
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.not_before = to_time(not_before)?;
        params.not_after = to_time(not_after)?;
        params.serial_number = Some(SerialNumber::from_slice(&rand::random::<[u8; 16]>()));
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&request.public_key, &issuer, &self.key)
            .map_err(|e| invalid("signing", e))?;
        Ok(cert.pem())
    }
}

/// The CA certificate and key, encrypted with a passphrase (age, scrypt): the only form in which
/// the CA key leaves the admin node, to move the admin role to another machine.
pub fn seal_ca(ca: &ClusterCa, passphrase: &str) -> Result<Vec<u8>, PkiError> {
    use std::io::Write;
    let plain = format!("{}{}", ca.cert_pem, ca.key_pem());
    let encryptor = age::Encryptor::with_user_passphrase(age::secrecy::SecretString::from(
        passphrase.to_string(),
    ));
    let mut sealed = Vec::new();
    let mut writer = encryptor
        .wrap_output(&mut sealed)
        .map_err(|e| invalid("encrypting the CA", e))?;
    writer
        .write_all(plain.as_bytes())
        .and_then(|()| writer.finish().map(drop))
        .map_err(|e| invalid("encrypting the CA", e))?;
    Ok(sealed)
}

/// Opens what [`seal_ca`] wrote.
pub fn open_ca(sealed: &[u8], passphrase: &str) -> Result<ClusterCa, PkiError> {
    use std::io::Read;
    let refused = || PkiError::Invalid("wrong passphrase, or not an exported CA".into());
    let decryptor = age::Decryptor::new(sealed).map_err(|_| refused())?;
    let identity =
        age::scrypt::Identity::new(age::secrecy::SecretString::from(passphrase.to_string()));
    let mut plain = String::new();
    decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|_| refused())?
        .take(2 * MAX_PEM_BYTES as u64)
        .read_to_string(&mut plain)
        .map_err(|_| refused())?;
    let end = "-----END CERTIFICATE-----";
    let split = plain.find(end).ok_or_else(refused)? + end.len();
    ClusterCa::from_pem(&plain[..split], plain[split..].trim_start())
}

/// What `neiqin node approve` hands the joining node: its certificate, then the CA's.
pub fn bundle(cert_pem: &str, ca_pem: &str) -> String {
    format!("{}\n{}", cert_pem.trim_end(), ca_pem)
}

/// Splits a [`bundle`] into (node certificate, CA certificate).
pub fn split_bundle(text: &str) -> Result<(String, String), PkiError> {
    let end = "-----END CERTIFICATE-----";
    let blocks: Vec<&str> = text
        .split_inclusive(end)
        .map(str::trim)
        .filter(|b| b.contains("-----BEGIN CERTIFICATE-----"))
        .collect();
    match blocks.as_slice() {
        [cert, ca] => Ok((format!("{cert}\n"), format!("{ca}\n"))),
        _ => Err(PkiError::Invalid(format!(
            "a certificate file from `neiqin node approve` holds 2 certificates; this one {}",
            blocks.len()
        ))),
    }
}

/// A joining node's request: its node id and public key, signed by its private key.
pub struct JoinRequest {
    pub node_id: String,
    pub fingerprint: String,
    public_key: rcgen::PublicKey,
}

impl JoinRequest {
    /// Makes this node's key pair and its request. Returns (private key PEM, request PEM).
    pub fn create(node_id: &str) -> Result<(String, String), PkiError> {
        check_node_id(node_id)?;
        let key = KeyPair::generate().map_err(|e| invalid("node key", e))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("neiqin node {node_id}"));
        params.distinguished_name = dn;
        params.subject_alt_names = vec![uri(format!("{NODE_URI_PREFIX}{node_id}"))?];
        let request = params
            .serialize_request(&key)
            .map_err(|e| invalid("request", e))?;
        let pem = request.pem().map_err(|e| invalid("request", e))?;
        Ok((key.serialize_pem(), pem))
    }

    /// Reads a request (its signature checked) and the one node id it names.
    pub fn parse(request_pem: &str) -> Result<JoinRequest, PkiError> {
        check_pem_size(request_pem, "the request")?;
        let request = CertificateSigningRequestParams::from_pem(request_pem)
            .map_err(|e| invalid("not a join request", e))?;
        let node_ids: Vec<String> = request
            .params
            .subject_alt_names
            .iter()
            .filter_map(|san| match san {
                SanType::URI(u) => u.as_str().strip_prefix(NODE_URI_PREFIX).map(str::to_string),
                _ => None,
            })
            .collect();
        let [node_id] = node_ids.as_slice() else {
            return Err(PkiError::Invalid(format!(
                "a join request names exactly one node; this one names {}",
                node_ids.len()
            )));
        };
        check_node_id(node_id)?;
        Ok(JoinRequest {
            node_id: node_id.clone(),
            fingerprint: short_fingerprint(request.public_key.der_bytes()),
            public_key: request.public_key,
        })
    }
}

/// What a verified node certificate says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCertificate {
    pub node_id: String,
    /// Sorted, without duplicates.
    pub roles: Vec<Role>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// Of the node's public key; the same as its join request's.
    pub fingerprint: String,
    pub serial_hex: String,
    /// Of the cluster CA that signed it: which company the node belongs to (announced by mDNS).
    pub ca_fingerprint: String,
}

struct Parsed {
    der: Vec<u8>,
    public_key: Vec<u8>,
}

fn parse_pem(pem: &str) -> Result<Parsed, PkiError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| invalid("not a PEM certificate", e))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&pem.contents)
        .map_err(|e| invalid("not a certificate", e))?;
    let public_key = cert.public_key().subject_public_key.data.to_vec();
    Ok(Parsed {
        der: pem.contents.clone(),
        public_key,
    })
}

impl NodeCertificate {
    /// The one check of a node certificate: issued and signed by `ca_pem`, valid at `now`,
    /// naming one node and only known roles.
    pub fn verify(
        cert_pem: &str,
        ca_pem: &str,
        now: DateTime<Utc>,
    ) -> Result<NodeCertificate, PkiError> {
        check_pem_size(cert_pem, "the certificate")?;
        let ca = parse_pem(ca_pem)?;
        let node = parse_pem(cert_pem)?;
        NodeCertificate::verify_der(&node.der, &ca.der, now)
    }

    /// As [`NodeCertificate::verify`], on DER (what TLS hands over).
    pub fn verify_der(
        cert_der: &[u8],
        ca_der: &[u8],
        now: DateTime<Utc>,
    ) -> Result<NodeCertificate, PkiError> {
        NodeCertificate::verify_der_at(cert_der, ca_der, Some(now))
    }

    /// As [`NodeCertificate::verify_der`] at any date: who signed facts of a time when the
    /// certificate was valid.
    pub fn verify_der_any_date(
        cert_der: &[u8],
        ca_der: &[u8],
    ) -> Result<NodeCertificate, PkiError> {
        NodeCertificate::verify_der_at(cert_der, ca_der, None)
    }

    fn verify_der_at(
        cert_der: &[u8],
        ca_der: &[u8],
        now: Option<DateTime<Utc>>,
    ) -> Result<NodeCertificate, PkiError> {
        let (_, ca) = x509_parser::parse_x509_certificate(ca_der)
            .map_err(|e| invalid("CA certificate", e))?;
        let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
            .map_err(|e| invalid("not a certificate", e))?;
        if cert.issuer() != ca.subject() || cert.verify_signature(Some(ca.public_key())).is_err() {
            return Err(PkiError::NotOurCa);
        }
        let mut node_ids = Vec::new();
        let mut roles = Vec::new();
        let san = cert
            .subject_alternative_name()
            .map_err(|e| invalid("certificate names", e))?;
        for name in san.iter().flat_map(|s| s.value.general_names.iter()) {
            if let x509_parser::extensions::GeneralName::URI(u) = name {
                if let Some(id) = u.strip_prefix(NODE_URI_PREFIX) {
                    node_ids.push(id.to_string());
                } else if let Some(role) = u.strip_prefix(ROLE_URI_PREFIX) {
                    roles.push(
                        role.parse::<Role>()
                            .map_err(|e| invalid("certificate role", e))?,
                    );
                }
            }
        }
        let [node_id] = node_ids.as_slice() else {
            return Err(PkiError::Invalid(format!(
                "a node certificate names exactly one node; this one names {}",
                node_ids.len()
            )));
        };
        roles.sort_by_key(|r| r.as_str());
        roles.dedup();
        let validity = cert.validity();
        let not_before = from_asn1(validity.not_before);
        let not_after = from_asn1(validity.not_after);
        if now.is_some_and(|now| now > not_after) {
            return Err(PkiError::Expired {
                node_id: node_id.clone(),
                not_after,
            });
        }
        if now.is_some_and(|now| now < not_before) {
            return Err(PkiError::NotYetValid {
                node_id: node_id.clone(),
                not_before,
            });
        }
        Ok(NodeCertificate {
            node_id: node_id.clone(),
            roles,
            not_before,
            not_after,
            fingerprint: short_fingerprint(&cert.public_key().subject_public_key.data),
            serial_hex: cert.raw_serial_as_string(),
            ca_fingerprint: short_fingerprint(&ca.public_key().subject_public_key.data),
        })
    }

    /// Whether this node may have users of, and author facts of, `role`. Admin is local user
    /// management, authors no business fact, and every node has one.
    pub fn allows(&self, role: Role) -> bool {
        role == Role::Admin || self.roles.contains(&role)
    }
}

/// The DER inside a PEM block (a certificate, or a PKCS#8 key).
pub fn pem_to_der(pem: &str) -> Result<Vec<u8>, PkiError> {
    check_pem_size(pem, "the PEM block")?;
    let (_, block) =
        x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| invalid("not PEM", e))?;
    Ok(block.contents)
}

/// The subject public key of a certificate (an uncompressed P-256 point for ours).
pub fn public_key_of(cert_der: &[u8]) -> Result<Vec<u8>, PkiError> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| invalid("not a certificate", e))?;
    Ok(cert.public_key().subject_public_key.data.to_vec())
}

/// Checks that the CA of `ca_pem` signed `message` ([`ClusterCa::sign`]).
pub fn verify_ca_signature(ca_pem: &str, message: &[u8], signature: &[u8]) -> Result<(), PkiError> {
    let ca = parse_pem(ca_pem)?;
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_ASN1,
        &ca.public_key,
    )
    .verify(message, signature)
    .map_err(|_| PkiError::NotOurCa)
}

/// Parses `warehouse`, `finance,clerk`, or the shorthand `office` (clerk, supervisor, vp).
pub fn parse_roles(text: &str) -> Result<Vec<Role>, PkiError> {
    let mut roles = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part == "office" {
            roles.extend([Role::Clerk, Role::Supervisor, Role::Vp]);
        } else {
            roles.push(part.parse::<Role>().map_err(|e| invalid("roles", e))?);
        }
    }
    if roles.is_empty() {
        return Err(PkiError::Invalid(
            "name at least one role: warehouse, finance, office (= clerk,supervisor,vp), \
             clerk, supervisor, vp"
                .into(),
        ));
    }
    Ok(roles)
}

pub fn read_file(path: &Path) -> Result<String, PkiError> {
    read_file_limited(path, MAX_PEM_BYTES)
}

/// A text file of at most `max` bytes (checked before it is read).
pub fn read_file_limited(path: &Path, max: usize) -> Result<String, PkiError> {
    let file_error = |message: String| PkiError::File {
        path: path.to_path_buf(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| file_error(e.to_string()))?;
    if meta.len() > max as u64 {
        return Err(file_error(format!(
            "{} bytes; at most {max} expected",
            meta.len()
        )));
    }
    std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))
}

/// Writes a public file whole or not at all (a temporary file renamed over it): a running node
/// re-reads its certificate file and must never see half of one.
fn write_public(path: &Path, text: &str) -> Result<(), PkiError> {
    let file_error = |e: std::io::Error| PkiError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    std::fs::write(&temporary, text).map_err(file_error)?;
    std::fs::rename(&temporary, path).map_err(file_error)
}

/// Writes a private key: created 0600 (never readable by others, not even for a moment).
pub fn write_secret(path: &Path, text: &str) -> Result<(), PkiError> {
    write_secret_bytes(path, text.as_bytes())
}

/// [`write_secret`] for bytes.
pub fn write_secret_bytes(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    use std::io::Write;
    let file_error = |e: std::io::Error| PkiError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(file_error)?;
    #[cfg(unix)]
    {
        // An existing file keeps its mode on open; make sure it is 0600 too.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(file_error)?;
    }
    file.write_all(bytes).map_err(file_error)?;
    file.sync_all().map_err(file_error)
}

/// This node's own key and certificate, as installed in its data directory.
pub struct NodeCredentials {
    pub key_pem: String,
    pub cert_pem: String,
    pub ca_pem: String,
    pub certificate: NodeCertificate,
}

impl NodeCredentials {
    /// `None` when the node has no certificate yet (a request may be waiting for approval).
    pub fn load(dir: &Path, now: DateTime<Utc>) -> Result<Option<NodeCredentials>, PkiError> {
        let Some(mut credentials) = NodeCredentials::load_any_date(dir)? else {
            return Ok(None);
        };
        credentials.certificate =
            NodeCertificate::verify(&credentials.cert_pem, &credentials.ca_pem, now)?;
        Ok(Some(credentials))
    }

    /// As [`NodeCredentials::load`], whatever the date: an expired node still signs nothing new
    /// but its certificate still names it.
    pub fn load_any_date(dir: &Path) -> Result<Option<NodeCredentials>, PkiError> {
        let cert_path = dir.join(NODE_CERT_FILE);
        if !cert_path.exists() {
            return Ok(None);
        }
        finish_install(dir)?;
        let cert_pem = read_file(&cert_path)?;
        let ca_pem = read_file(&dir.join(CA_CERT_FILE))?;
        let key_pem = read_file(&dir.join(NODE_KEY_FILE))?;
        let certificate =
            NodeCertificate::verify_der_any_date(&pem_to_der(&cert_pem)?, &pem_to_der(&ca_pem)?)?;
        if key_fingerprint(&key_pem)? != certificate.fingerprint {
            return Err(PkiError::Invalid(format!(
                "{} does not hold the key of {} (a certificate approved for another request?)",
                dir.join(NODE_KEY_FILE).display(),
                cert_path.display()
            )));
        }
        Ok(Some(NodeCredentials {
            key_pem,
            cert_pem,
            ca_pem,
            certificate,
        }))
    }

    /// Installs a certificate approved for this node: it must be for this node id, carry the
    /// key of this node's pending request, and be signed by `ca_pem`. A renewal's new key
    /// (`NODE_PENDING_KEY_FILE`) becomes the node's key with it; a running node takes both
    /// within seconds (`node::reload_from_data_dir`).
    pub fn install(
        dir: &Path,
        node_id: &str,
        cert_pem: &str,
        ca_pem: &str,
        now: DateTime<Utc>,
    ) -> Result<NodeCertificate, PkiError> {
        let certificate = NodeCertificate::verify(cert_pem, ca_pem, now)?;
        if certificate.node_id != node_id {
            return Err(PkiError::Invalid(format!(
                "the certificate is for node {}, this node is {node_id}",
                certificate.node_id
            )));
        }
        let pending = dir.join(NODE_PENDING_KEY_FILE);
        let key_path = if pending.exists() {
            pending
        } else {
            dir.join(NODE_KEY_FILE)
        };
        if key_fingerprint(&read_file(&key_path)?)? != certificate.fingerprint {
            return Err(PkiError::Invalid(
                "the certificate carries another key than this node's request \
                 (approved an older request?)"
                    .into(),
            ));
        }
        write_public(&dir.join(CA_CERT_FILE), ca_pem)?;
        write_public(&dir.join(NODE_CERT_FILE), cert_pem)?;
        finish_install(dir)?;
        Ok(certificate)
    }

    /// Makes this node's key (0600) and request file; returns the request's fingerprint.
    /// A node that holds a certificate (a renewal) keeps its key until the new certificate is
    /// installed; the new key waits in `NODE_PENDING_KEY_FILE`.
    pub fn request(dir: &Path, node_id: &str) -> Result<(PathBuf, String), PkiError> {
        let (key_pem, request_pem) = JoinRequest::create(node_id)?;
        let key_file = if dir.join(NODE_CERT_FILE).exists() {
            NODE_PENDING_KEY_FILE
        } else {
            NODE_KEY_FILE
        };
        write_secret(&dir.join(key_file), &key_pem)?;
        let path = dir.join(NODE_REQUEST_FILE);
        write_public(&path, &request_pem)?;
        let fingerprint = JoinRequest::parse(&request_pem)?.fingerprint;
        Ok((path, fingerprint))
    }
}

/// The short fingerprint of a key file's public key, as requests and certificates print it.
fn key_fingerprint(key_pem: &str) -> Result<String, PkiError> {
    let key = KeyPair::from_pem(key_pem).map_err(|e| invalid("node key", e))?;
    Ok(short_fingerprint(key.der_bytes()))
}

/// Completes a renewal's install: once `node.crt` is the pending key's certificate, the
/// pending key becomes `node.key`. Install writes the certificate, then calls this; a crash
/// between the two is completed here at the next load. Idempotent, and safe when a running
/// node and `neiqin node install` both get here.
fn finish_install(dir: &Path) -> Result<(), PkiError> {
    let pending = dir.join(NODE_PENDING_KEY_FILE);
    let key_pem = match std::fs::read_to_string(&pending) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(PkiError::File {
                path: pending,
                message: e.to_string(),
            })
        }
    };
    let cert_der = pem_to_der(&read_file(&dir.join(NODE_CERT_FILE))?)?;
    let Ok(certificate) = NodeCertificate::verify_der_any_date(
        &cert_der,
        &pem_to_der(&read_file(&dir.join(CA_CERT_FILE))?)?,
    ) else {
        return Ok(()); // not our concern here: the load that follows says what is wrong
    };
    if key_fingerprint(&key_pem)? != certificate.fingerprint {
        return Ok(()); // the certificate in force is still the old one
    }
    match std::fs::rename(&pending, dir.join(NODE_KEY_FILE)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()), // done by the other
        Err(e) => Err(PkiError::File {
            path: pending,
            message: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn approved_certificate_names_node_and_roles() {
        let ca = ClusterCa::generate("示例商贸").expect("CA");
        let (key_pem, request_pem) = JoinRequest::create(NODE).expect("request");
        let request = JoinRequest::parse(&request_pem).expect("parse");
        assert_eq!(request.node_id, NODE);
        let cert = ca
            .approve(&request_pem, &[Role::Warehouse], Utc::now(), 30)
            .expect("approve");
        let verified = NodeCertificate::verify(&cert, ca.cert_pem(), Utc::now()).expect("valid");
        assert_eq!(verified.node_id, NODE);
        assert_eq!(verified.roles, vec![Role::Warehouse]);
        assert!(verified.allows(Role::Warehouse));
        assert!(!verified.allows(Role::Finance));
        // Both people read the same fingerprint: request and certificate carry one key.
        assert_eq!(verified.fingerprint, request.fingerprint);
        let key = KeyPair::from_pem(&key_pem).expect("key");
        assert_eq!(short_fingerprint(key.der_bytes()), request.fingerprint);
        assert_eq!(request.fingerprint.len(), 19);
    }

    #[test]
    fn another_cas_certificate_is_refused() {
        let ours = ClusterCa::generate("示例商贸").expect("CA");
        let theirs = ClusterCa::generate("示例商贸").expect("CA");
        let (_, request_pem) = JoinRequest::create(NODE).expect("request");
        let cert = theirs
            .approve(&request_pem, &[Role::Finance], Utc::now(), 30)
            .expect("approve");
        let refused = NodeCertificate::verify(&cert, ours.cert_pem(), Utc::now());
        assert!(matches!(refused, Err(PkiError::NotOurCa)), "{refused:?}");
    }

    #[test]
    fn expired_certificate_is_refused_with_what_to_do() {
        let ca = ClusterCa::generate("示例商贸").expect("CA");
        let (_, request_pem) = JoinRequest::create(NODE).expect("request");
        let request = JoinRequest::parse(&request_pem).expect("parse");
        let now = Utc::now();
        let cert = ca
            .issue(
                &request,
                &[Role::Clerk],
                now - Duration::days(40),
                now - Duration::days(5),
            )
            .expect("issue");
        let refused = NodeCertificate::verify(&cert, ca.cert_pem(), now).unwrap_err();
        assert!(matches!(refused, PkiError::Expired { .. }));
        assert!(
            refused.to_string().contains("neiqin node approve"),
            "{refused}"
        );
    }

    #[test]
    fn ca_survives_save_and_load_and_keeps_its_key_private() {
        let dir = tempfile::tempdir().expect("dir");
        let ca = ClusterCa::generate("示例商贸").expect("CA");
        ca.save(dir.path()).expect("save");
        let loaded = ClusterCa::load(dir.path()).expect("load").expect("present");
        assert_eq!(loaded.fingerprint(), ca.fingerprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(CA_KEY_FILE))
                .expect("key")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A certificate signed by the reloaded CA verifies against the original certificate.
        let (_, request_pem) = JoinRequest::create(NODE).expect("request");
        let cert = loaded
            .approve(
                &request_pem,
                &parse_roles("office").expect("roles"),
                Utc::now(),
                1,
            )
            .expect("approve");
        let verified = NodeCertificate::verify(&cert, ca.cert_pem(), Utc::now()).expect("valid");
        assert_eq!(
            verified.roles,
            vec![Role::Clerk, Role::Supervisor, Role::Vp]
        );
    }

    #[test]
    fn request_install_round_trip_checks_the_key() {
        let admin = tempfile::tempdir().expect("dir");
        let joiner = tempfile::tempdir().expect("dir");
        let ca = ClusterCa::generate("示例商贸").expect("CA");
        ca.save(admin.path()).expect("save");
        let (request_path, fingerprint) =
            NodeCredentials::request(joiner.path(), NODE).expect("request");
        let request_pem = read_file(&request_path).expect("read");
        let cert = ca
            .approve(&request_pem, &[Role::Finance], Utc::now(), 30)
            .expect("approve");
        // A certificate for another node id is refused.
        assert!(
            NodeCredentials::install(joiner.path(), "ab", &cert, ca.cert_pem(), Utc::now())
                .is_err()
        );
        let installed =
            NodeCredentials::install(joiner.path(), NODE, &cert, ca.cert_pem(), Utc::now())
                .expect("install");
        assert_eq!(installed.fingerprint, fingerprint);
        let creds = NodeCredentials::load(joiner.path(), Utc::now())
            .expect("load")
            .expect("installed");
        assert_eq!(creds.certificate.roles, vec![Role::Finance]);
        // A second request makes a new key: the old certificate no longer fits it.
        NodeCredentials::request(joiner.path(), NODE).expect("request again");
        assert!(
            NodeCredentials::install(joiner.path(), NODE, &cert, ca.cert_pem(), Utc::now())
                .is_err()
        );
    }

    #[test]
    fn exported_ca_opens_only_with_its_passphrase() {
        let ca = ClusterCa::generate("示例商贸").expect("CA");
        let sealed = seal_ca(&ca, "correct horse").expect("seal");
        assert!(!String::from_utf8_lossy(&sealed).contains("PRIVATE KEY"));
        assert!(open_ca(&sealed, "wrong").is_err());
        let opened = open_ca(&sealed, "correct horse").expect("open");
        assert_eq!(opened.fingerprint(), ca.fingerprint());
    }

    #[test]
    fn bundle_splits_into_certificate_and_ca() {
        let ca = ClusterCa::generate("示例商贸").expect("CA");
        let (_, request_pem) = JoinRequest::create(NODE).expect("request");
        let cert = ca
            .approve(&request_pem, &[Role::Warehouse], Utc::now(), 30)
            .expect("approve");
        let (node, authority) = split_bundle(&bundle(&cert, ca.cert_pem())).expect("split");
        NodeCertificate::verify(&node, &authority, Utc::now()).expect("valid");
        assert!(split_bundle(&cert).is_err());
    }

    #[test]
    fn bad_input_is_refused_clearly() {
        assert!(JoinRequest::create("not hex!").is_err());
        assert!(JoinRequest::parse("garbage").is_err());
        assert!(parse_roles("").is_err());
        assert!(parse_roles("warehouse,boss").is_err());
        let ca = ClusterCa::generate("示例商贸").expect("CA");
        let (_, request_pem) = JoinRequest::create(NODE).expect("request");
        assert!(ca.approve(&request_pem, &[], Utc::now(), 1).is_err());
        let huge = "A".repeat(MAX_PEM_BYTES + 1);
        assert!(JoinRequest::parse(&huge).is_err());
    }
}
