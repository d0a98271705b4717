//! Who may author a fact, checked wherever facts count. Every fact a node writes is signed with
//! its node key (`seal`); when a node derives status, money and anomalies, a fact counts only if
//! its signature verifies, its node holds a certificate of the cluster CA, the node was not
//! revoked before the fact, the certificate allows the fact's role, and the role may record that
//! kind of fact (`Role::may`). Anything else does not count and raises an anomaly
//! (越权或伪造的记录) the same on every node; the fact stays in the document as evidence.
//!
//! Signed bytes: a domain tag, the document id, the fact id and the fact's JSON exactly as
//! written. The signature is stored as the JSON's last member, `"sig":"<serial>.<base64>"`, so
//! a verifier recovers the signed text by removing that member; nothing is re-serialised.
//!
//! Certificates of other nodes arrive with the peers' hellos (`known_certificates`) and are kept
//! in `known-nodes.pem`; each is checked against the CA before it is used. Verified signatures
//! are remembered, so a fact is verified once, not at every projection of its document.

use base64::Engine;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use crate::domain::facts::FactCheck;
use crate::domain::facts::{Fact, FactBody};
use crate::domain::record::Record;
use crate::domain::role::{Action, Role};
use crate::pki::{NodeCertificate, PkiError};
use crate::revocation::RevocationList;
use std::sync::Arc;

pub const KNOWN_NODES_FILE: &str = "known-nodes.pem";
const SIGNING_TAG: &[u8] = b"neiqin-fact-v1\n";
const SIG_MEMBER: &str = ",\"sig\":\"";
/// Verified signatures remembered (a hash each).
const VERIFIED_CACHE: usize = 1 << 20;
/// Certificates a node keeps of others (a company has tens of nodes).
const MAX_KNOWN: usize = 4096;

/// The bytes a fact's signature covers.
pub fn signing_bytes(doc_id: &str, fact_id: &str, text: &str) -> Vec<u8> {
    let mut bytes =
        Vec::with_capacity(SIGNING_TAG.len() + doc_id.len() + fact_id.len() + text.len() + 2);
    bytes.extend_from_slice(SIGNING_TAG);
    bytes.extend_from_slice(doc_id.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(fact_id.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

/// Splits a stored fact into the signed text, the signer's certificate serial and the
/// signature; None when it carries no signature member.
pub fn split_signature(stored: &str) -> Option<(String, &str, Vec<u8>)> {
    let body = stored.strip_suffix("\"}")?;
    let at = body.rfind(SIG_MEMBER)?;
    let (serial, signature) = body[at + SIG_MEMBER.len()..].split_once('.')?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .ok()?;
    Some((format!("{}}}", &body[..at]), serial, signature))
}

/// The kind of fact a role must be allowed to record (None: any role its node may author).
fn required_action(body: &FactBody) -> Option<Action> {
    use FactBody::*;
    Some(match body {
        Verified { .. } => Action::Verify,
        Approved { .. } => Action::Approve,
        ReleasedToWorkshop => Action::ReleaseToWorkshop,
        Progress { .. } => Action::Progress,
        DelayAcknowledged { .. } => Action::AcknowledgeDelay,
        ShippingDoc { .. } => Action::ShippingDoc,
        FinanceRelease { .. } => Action::FinanceRelease,
        Shipment { .. } => Action::Ship,
        Payment { .. } => Action::RecordPayment,
        PaymentReminder { .. } => Action::RemindPayment,
        PaymentVoid { .. } => Action::VoidPayment,
        Invoice { .. } | InvoiceVoided { .. } => Action::Invoice,
        Cancelled { .. } | Reinstated { .. } | RemainderCancelled { .. } => {
            Action::CancelOrReinstate
        }
        Correction { .. } => Action::Correct,
        Archived => Action::Archive,
        ReturnRequested { .. } => Action::RequestReturn,
        ReturnDecided { .. } => Action::DecideReturn,
        ReturnReceived { .. } => Action::ReceiveReturn,
        ReturnedToCustomer { .. } => Action::ReturnToCustomer,
        ComplaintAssigned { .. } => Action::AssignComplaint,
        ComplaintHandled { .. } => Action::HandleComplaint,
        ComplaintClosed { .. } | ComplaintReopened { .. } => Action::CloseComplaint,
        ComplaintEscalationAcknowledged { .. } => Action::AcknowledgeComplaint,
        ComplaintReturnLinked { .. } => Action::RequestReturn,
        ContractSubmitted { .. } | ContractRevised { .. } => Action::DraftContract,
        ContractReviewed { .. } => Action::ReviewContract,
        ContractApproved { .. } => Action::ApproveContract,
        ContractSigned { .. } | ContractArchived { .. } => Action::SignContract,
        ArchiveWritten { .. } => Action::EditCustomer,
        // Field changes, resolutions and follow-ups are recorded by several roles; the
        // certificate must still allow the role that recorded them.
        Changed { .. } | AnomalyResolved { .. } | FollowedUp(_) => return None,
    })
}

/// The fact's role may record its kind (`Role::may`).
fn check_kind(fact: &Fact) -> Result<(), String> {
    match required_action(&fact.body) {
        Some(action) if !fact.role.may(action) => {
            Err(format!("the role {} may not record it", fact.role))
        }
        _ => Ok(()),
    }
}

struct KnownCert {
    certificate: NodeCertificate,
    public_key: Vec<u8>,
    pem: String,
}

struct Signer {
    serial: String,
    key: ring::signature::EcdsaKeyPair,
}

impl Signer {
    fn of(credentials: &crate::pki::NodeCredentials) -> Result<Signer, PkiError> {
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &crate::pki::pem_to_der(&credentials.key_pem)?,
            &ring::rand::SystemRandom::new(),
        )
        .map_err(|e| PkiError::Invalid(format!("node key: {e}")))?;
        Ok(Signer {
            serial: credentials.certificate.serial_hex.clone(),
            key,
        })
    }
}

/// The CA, this node's signing key, the certificates it knows and the revocations in force.
/// Without a CA (a store opened outside a node, unit tests) every fact counts unsigned.
pub struct Authority {
    ca_der: Option<Vec<u8>>,
    ca_pem: Option<String>,
    /// This node's key and certificate serial; replaced when the certificate is renewed.
    signer: RwLock<Option<Signer>>,
    known: RwLock<HashMap<String, KnownCert>>,
    revoked: RwLock<HashMap<String, DateTime<Utc>>>,
    verified: Mutex<HashSet<[u8; 32]>>,
    data_dir: Option<PathBuf>,
    /// Moves whenever what counts may have changed (a certificate learned that a refused fact
    /// was waiting for, a revocation), so the node projects its documents again
    /// (`node::reproject_when_authority_changes`).
    changes: tokio::sync::watch::Sender<u64>,
    /// Set when a fact was refused for want of its signer's certificate: only then does a newly
    /// learned certificate call for projecting again (peers pass certificates before facts, so
    /// usually nothing waits).
    waiting_for_signer: std::sync::atomic::AtomicBool,
}

impl Authority {
    /// Checks nothing, signs nothing.
    pub fn trust_all() -> Authority {
        Authority {
            ca_der: None,
            ca_pem: None,
            signer: RwLock::new(None),
            known: RwLock::default(),
            revoked: RwLock::default(),
            verified: Mutex::default(),
            data_dir: None,
            changes: tokio::sync::watch::Sender::new(0),
            waiting_for_signer: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Moves whenever a certificate is learned or the revocations change.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// The authority of the node in `data_dir`: its CA, key, certificate, the certificates it
    /// learned and its revocation list. Trusts all when the directory holds no certificate yet.
    pub fn load(data_dir: &Path) -> Result<Authority, PkiError> {
        let mut authority = Authority::trust_all();
        let Some(credentials) = crate::pki::NodeCredentials::load_any_date(data_dir)? else {
            return Ok(authority);
        };
        let ca = crate::pki::pem_to_der(&credentials.ca_pem)?;
        authority.signer = RwLock::new(Some(Signer::of(&credentials)?));
        authority.ca_der = Some(ca);
        authority.ca_pem = Some(credentials.ca_pem.clone());
        authority.data_dir = Some(data_dir.to_path_buf());
        authority.learn(std::slice::from_ref(&credentials.cert_pem), false);
        let known = data_dir.join(KNOWN_NODES_FILE);
        if known.exists() {
            let text = crate::pki::read_file_limited(&known, MAX_KNOWN * 4096)?;
            authority.learn(&split_pems(&text), false);
        }
        if let Some((list, _)) =
            crate::revocation::SignedRevocations::load(data_dir, &credentials.ca_pem)?
        {
            authority.set_revocations(&list);
        }
        Ok(authority)
    }

    /// Takes the certificates of the CA among `pems`; returns how many were new. Kept in the
    /// data directory when `keep`.
    pub fn learn(&self, pems: &[String], keep: bool) -> usize {
        let Some(ca) = &self.ca_der else { return 0 };
        let mut added = Vec::new();
        {
            let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
            for pem in pems.iter().take(MAX_KNOWN) {
                let Ok(der) = crate::pki::pem_to_der(pem) else {
                    continue;
                };
                // Dates are not checked here: an expired certificate still names who signed
                // the facts of its time.
                let Ok(certificate) = NodeCertificate::verify_der_any_date(&der, ca) else {
                    continue;
                };
                if known.len() >= MAX_KNOWN || known.contains_key(&certificate.serial_hex) {
                    continue;
                }
                let public_key = crate::pki::public_key_of(&der).unwrap_or_default();
                known.insert(
                    certificate.serial_hex.clone(),
                    KnownCert {
                        certificate,
                        public_key,
                        pem: pem.clone(),
                    },
                );
                added.push(pem.clone());
            }
        }
        if !added.is_empty()
            && self
                .waiting_for_signer
                .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            self.changed();
        }
        if keep && !added.is_empty() {
            if let Some(dir) = &self.data_dir {
                if let Err(e) =
                    std::fs::write(dir.join(KNOWN_NODES_FILE), self.known_pems().concat())
                {
                    tracing::warn!(error = %e, "the certificates of other nodes could not be kept");
                }
            }
        }
        added.len()
    }

    /// Every certificate this node knows (its own included), as PEM.
    pub fn known_pems(&self) -> Vec<String> {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        let mut pems: Vec<(String, String)> = known
            .iter()
            .map(|(serial, k)| (serial.clone(), k.pem.clone()))
            .collect();
        pems.sort();
        pems.into_iter().map(|(_, pem)| pem).collect()
    }

    /// A short digest of the set of known certificates, to tell whether a peer knows the same.
    pub fn known_digest(&self) -> u64 {
        use sha2::{Digest, Sha256};
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        let mut serials: Vec<&String> = known.keys().collect();
        serials.sort();
        let mut hash = Sha256::new();
        for serial in serials {
            hash.update(serial.as_bytes());
            hash.update(b"\n");
        }
        u64::from_be_bytes(hash.finalize()[..8].try_into().unwrap_or_default())
    }

    /// The nodes revoked, with when, as the list in force says.
    pub fn revoked_nodes(&self) -> Vec<(String, DateTime<Utc>)> {
        let mut nodes: Vec<(String, DateTime<Utc>)> = self
            .revoked
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(node, at)| (node.clone(), *at))
            .collect();
        nodes.sort();
        nodes
    }

    pub fn set_revocations(&self, list: &RevocationList) {
        let fresh: HashMap<String, DateTime<Utc>> = list
            .revoked
            .iter()
            .map(|r| (r.node_id.clone(), r.at))
            .collect();
        let mut revoked = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        if *revoked != fresh {
            *revoked = fresh;
            drop(revoked);
            self.changed();
        }
    }

    fn check_fact(
        &self,
        doc_id: &str,
        fact_id: &str,
        stored: &str,
        fact: &Fact,
        record: &Record,
    ) -> Result<(), String> {
        if self.ca_der.is_none() {
            return Ok(());
        }
        let Some((text, serial, signature)) = split_signature(stored) else {
            return self.check_legacy(doc_id, fact_id, stored, fact, record);
        };
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        let signer = known.get(serial).ok_or_else(|| {
            self.waiting_for_signer
                .store(true, std::sync::atomic::Ordering::SeqCst);
            format!("it is signed by a certificate this node does not know ({serial})")
        })?;
        let certificate = &signer.certificate;
        if certificate.node_id != fact.node {
            return Err(format!(
                "it names node {} but was signed by node {}",
                fact.node, certificate.node_id
            ));
        }
        let bytes = signing_bytes(doc_id, fact_id, &text);
        self.verify_once(&bytes, &signature, || {
            ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_ASN1,
                &signer.public_key,
            )
            .verify(&bytes, &signature)
            .map_err(|_| "its signature does not verify (forged or altered)".to_string())
        })?;
        if let Some(at) = self
            .revoked
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&certificate.node_id)
        {
            if fact.at >= *at {
                return Err(format!(
                    "node {} was revoked at {at} before this fact",
                    certificate.node_id
                ));
            }
        }
        if !certificate.allows(fact.role) || fact.role == Role::Admin {
            return Err(format!(
                "node {}'s certificate does not allow the role {}",
                certificate.node_id, fact.role
            ));
        }
        check_kind(fact)
    }

    /// Runs `verify` unless this signature over these bytes verified before: each fact is
    /// verified once, not at every projection of its document.
    fn verify_once(
        &self,
        bytes: &[u8],
        signature: &[u8],
        verify: impl FnOnce() -> Result<(), String>,
    ) -> Result<(), String> {
        use sha2::{Digest, Sha256};
        let digest: [u8; 32] = Sha256::new()
            .chain_update(bytes)
            .chain_update(signature)
            .finalize()
            .into();
        if self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&digest)
        {
            return Ok(());
        }
        verify()?;
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_CACHE {
            verified.clear();
        }
        verified.insert(digest);
        Ok(())
    }
}

/// The record field holding the CA's attestation of the facts a document held, unsigned, when
/// its company moved to signed facts (`neiqin node init-ca`).
pub const LEGACY_FIELD: &str = "legacy_facts";
const LEGACY_TAG: &[u8] = b"neiqin-legacy-facts-v1\n";

fn text_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The attestation of `record`'s unsigned facts, signed by `ca`: the field value to write, or
/// None when it has no unsigned fact.
pub fn attest_legacy_facts(
    ca: &crate::pki::ClusterCa,
    doc_id: &str,
    record: &Record,
) -> Result<Option<String>, PkiError> {
    let unsigned: std::collections::BTreeMap<&str, String> = record
        .facts
        .iter()
        .filter(|(_, text)| split_signature(text).is_none())
        .map(|(id, text)| (id.as_str(), text_hash(text)))
        .collect();
    if unsigned.is_empty() {
        return Ok(None);
    }
    let list = serde_json::to_string(&unsigned).map_err(|e| PkiError::Invalid(e.to_string()))?;
    let signature = ca.sign(&[LEGACY_TAG, doc_id.as_bytes(), b"\n", list.as_bytes()].concat())?;
    Ok(Some(format!(
        "{list}\n{}",
        base64::engine::general_purpose::STANDARD.encode(signature)
    )))
}

impl Authority {
    /// An unsigned fact counts only if the CA attested it (a fact from before signing), and its
    /// role may record its kind.
    fn check_legacy(
        &self,
        doc_id: &str,
        fact_id: &str,
        stored: &str,
        fact: &Fact,
        record: &Record,
    ) -> Result<(), String> {
        let unsigned = || "it carries no signature".to_string();
        let attestation = record.field(LEGACY_FIELD).ok_or_else(unsigned)?;
        let (list, signature) = attestation.rsplit_once('\n').ok_or_else(unsigned)?;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(signature)
            .map_err(|_| unsigned())?;
        let facts: HashMap<String, String> = serde_json::from_str(list).map_err(|_| unsigned())?;
        if facts.get(fact_id) != Some(&text_hash(stored)) {
            return Err(unsigned());
        }
        let bytes = [LEGACY_TAG, doc_id.as_bytes(), b"\n", list.as_bytes()].concat();
        let ca_pem = self.ca_pem.as_deref().ok_or_else(unsigned)?;
        self.verify_once(&bytes, &signature, || {
            crate::pki::verify_ca_signature(ca_pem, &bytes, &signature)
                .map_err(|_| "its attestation is not the cluster CA's".to_string())
        })?;
        check_kind(fact)
    }

    /// Signs from now on with a renewed certificate's key (the certificate is learned, so the
    /// facts it signs verify here and, passed along, everywhere).
    pub fn renew_signer(&self, credentials: &crate::pki::NodeCredentials) -> Result<(), PkiError> {
        let signer = Signer::of(credentials)?;
        self.learn(std::slice::from_ref(&credentials.cert_pem), true);
        *self.signer.write().unwrap_or_else(|e| e.into_inner()) = Some(signer);
        Ok(())
    }

    /// A new fact's text as this node stores it: signed with its key (unchanged without one).
    pub fn seal(&self, doc_id: &str, fact_id: &str, json: String) -> String {
        let signer = self.signer.read().unwrap_or_else(|e| e.into_inner());
        let Some(signer) = signer.as_ref() else {
            return json;
        };
        let bytes = signing_bytes(doc_id, fact_id, &json);
        let Ok(signature) = signer.key.sign(&ring::rand::SystemRandom::new(), &bytes) else {
            return json;
        };
        let Some(body) = json.strip_suffix('}') else {
            return json;
        };
        format!(
            "{body}{SIG_MEMBER}{}.{}\"}}",
            signer.serial,
            base64::engine::general_purpose::STANDARD.encode(signature.as_ref())
        )
    }
}

impl FactCheck for Authority {
    fn check(
        &self,
        doc_id: &str,
        fact_id: &str,
        stored: &str,
        fact: &Fact,
        record: &Record,
    ) -> Result<(), String> {
        self.check_fact(doc_id, fact_id, stored, fact, record)
    }
}

/// The authority in force, shared by the projector and the use cases of one store, and
/// replaced when the node gets its certificate (first start) or learns more.
#[derive(Clone)]
pub struct AuthorityHandle(Arc<RwLock<Arc<Authority>>>);

impl Default for AuthorityHandle {
    fn default() -> Self {
        AuthorityHandle::new(Authority::trust_all())
    }
}

impl AuthorityHandle {
    pub fn new(authority: Authority) -> Self {
        AuthorityHandle(Arc::new(RwLock::new(Arc::new(authority))))
    }

    pub fn get(&self) -> Arc<Authority> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set(&self, authority: Authority) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(authority);
    }
}

/// The PEM blocks of a file of several certificates.
pub fn split_pems(text: &str) -> Vec<String> {
    const END: &str = "-----END CERTIFICATE-----";
    text.split_inclusive(END)
        .map(str::trim)
        .filter(|block| block.starts_with("-----BEGIN CERTIFICATE-----") && block.ends_with(END))
        .map(|block| format!("{block}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_text_is_recovered_exactly_from_the_stored_fact() {
        let text = r#"{"id":"f1","kind":"approved","note":"含\"引号\"和}括号"}"#;
        let stored = format!(
            "{}{SIG_MEMBER}00ab.{}\"}}",
            text.strip_suffix('}').unwrap(),
            base64::engine::general_purpose::STANDARD.encode(b"sig")
        );
        let (signed, serial, signature) = split_signature(&stored).unwrap();
        assert_eq!(signed, text);
        assert_eq!(serial, "00ab");
        assert_eq!(signature, b"sig");
        assert!(split_signature(text).is_none());
        // The bytes name the document and the fact: the same text under another id differs.
        assert_ne!(
            signing_bytes("d1", "f1", text),
            signing_bytes("d2", "f1", text)
        );
    }
}
