//! The peer link's TLS: TLS 1.3 only, and both sides present a node certificate of the cluster
//! CA. Who a peer is (its node id, the roles it may author) is read from its certificate, never
//! from what it says in a message, from mDNS or from its address.
//!
//! Both directions check a certificate the same way: rustls and webpki verify the chain to the
//! cluster CA, the dates and the key usage during the handshake; then [`PeerTls::identify`] reads
//! the node id and roles (`pki::NodeCertificate::verify_der`). Peers are reached by address, and
//! node certificates name no host, so the client does not match a host name: the CA signature is
//! what makes a certificate one of ours.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::authority::AuthorityHandle;
use crate::pki::{NodeCertificate, NodeCredentials, PkiError};
use crate::revocation::{RevocationList, SignedRevocations};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("this node's certificate or key cannot be used for TLS: {0}")]
    Credentials(String),
}

/// This node's TLS settings for both ends of a peer link, and the newest revocation list it
/// holds (shared by every connection, replaced when a newer one arrives).
/// This node's certificate and key as both ends of a link present them. Every handshake asks
/// for the current one, so a renewed certificate is presented from the next connection on
/// without restarting the node ([`PeerTls::renew`]).
#[derive(Debug)]
struct PresentedCertificate(RwLock<Arc<CertifiedKey>>);

impl PresentedCertificate {
    fn current(&self) -> Arc<CertifiedKey> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl ResolvesServerCert for PresentedCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

impl ResolvesClientCert for PresentedCertificate {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _schemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The certificate and key of `credentials`, ready for rustls.
fn certified_key(
    credentials: &NodeCredentials,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    use rustls::pki_types::pem::PemObject;
    let cert = pem_certificate(&credentials.cert_pem, "node certificate")?;
    let key = PrivateKeyDer::from_pem_slice(credentials.key_pem.as_bytes())
        .map_err(|e| TlsError::Credentials(format!("node key: {e}")))?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Credentials(format!("node key: {e}")))?;
    let certified = CertifiedKey::new(vec![cert], signing_key);
    certified
        .keys_match()
        .map_err(|e| TlsError::Credentials(format!("node key and certificate: {e}")))?;
    Ok(certified)
}

#[derive(Clone)]
pub struct PeerTls {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    ca_der: Arc<Vec<u8>>,
    ca_pem: Arc<String>,
    presented: Arc<PresentedCertificate>,
    revocations: Arc<RwLock<Revocations>>,
    /// The number of the list in force, for long polls to wake on.
    revocation_number: Arc<tokio::sync::watch::Sender<u64>>,
    /// Where a newer list is kept, so it holds after a restart (None: kept in memory only).
    data_dir: Option<Arc<PathBuf>>,
    /// Which facts count: learns the certificates peers pass along, and the revocations.
    authority: AuthorityHandle,
    /// Certificates already read, by the SHA-256 of their DER: a client sees the same one on
    /// every answer, and parsing and checking it each time is a cost on every exchange.
    identified: Arc<std::sync::Mutex<std::collections::HashMap<[u8; 32], NodeCertificate>>>,
}

#[derive(Default)]
struct Revocations {
    list: RevocationList,
    signed: Option<SignedRevocations>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn pem_certificate(pem: &str, what: &str) -> Result<CertificateDer<'static>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| TlsError::Credentials(format!("{what}: {e}")))
}

impl PeerTls {
    /// With the revocation list kept in `data_dir`, if any, and the node's authority.
    pub fn for_node(
        credentials: &NodeCredentials,
        data_dir: &Path,
        authority: AuthorityHandle,
    ) -> Result<PeerTls, TlsError> {
        let mut tls = PeerTls::new(credentials)?;
        tls.data_dir = Some(Arc::new(data_dir.to_path_buf()));
        tls.authority = authority;
        match SignedRevocations::load(data_dir, &credentials.ca_pem) {
            Ok(Some((list, signed))) => tls.install(list, signed),
            Ok(None) => {}
            Err(e) => {
                return Err(TlsError::Credentials(format!(
                    "the revocation list in {} is not usable: {e}",
                    data_dir.display()
                )))
            }
        }
        Ok(tls)
    }

    pub fn new(credentials: &NodeCredentials) -> Result<PeerTls, TlsError> {
        let ca = pem_certificate(&credentials.ca_pem, "cluster CA certificate")?;
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.clone())
            .map_err(|e| TlsError::Credentials(format!("cluster CA certificate: {e}")))?;
        let roots = Arc::new(roots);
        let provider = provider();
        let presented = Arc::new(PresentedCertificate(RwLock::new(Arc::new(certified_key(
            credentials,
            &provider,
        )?))));
        let tls13 = [&rustls::version::TLS13];

        let client_verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .build()
        .map_err(|e| TlsError::Credentials(e.to_string()))?;
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&tls13)
            .map_err(|e| TlsError::Credentials(e.to_string()))?
            .with_client_cert_verifier(client_verifier)
            .with_cert_resolver(presented.clone());

        let server_verifier = Arc::new(ClusterServerVerifier {
            roots,
            provider: provider.clone(),
        });
        let client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&tls13)
            .map_err(|e| TlsError::Credentials(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(server_verifier)
            .with_client_cert_resolver(presented.clone());
        Ok(PeerTls {
            server: Arc::new(server),
            client: Arc::new(client),
            ca_der: Arc::new(ca.to_vec()),
            ca_pem: Arc::new(credentials.ca_pem.clone()),
            presented,
            revocations: Arc::default(),
            revocation_number: Arc::new(tokio::sync::watch::Sender::new(0)),
            data_dir: None,
            authority: AuthorityHandle::default(),
            identified: Arc::default(),
        })
    }

    /// Presents `credentials` (a renewed certificate of this node, of the same CA) from the
    /// next handshake on, both as server and as client. Connections already open keep the
    /// certificate they were made with until they close.
    pub fn renew(&self, credentials: &NodeCredentials) -> Result<(), TlsError> {
        if credentials.ca_pem.trim() != self.ca_pem.trim() {
            return Err(TlsError::Credentials(
                "the renewed certificate comes with another cluster CA".into(),
            ));
        }
        let certified = certified_key(credentials, &provider())?;
        *self.presented.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(certified);
        Ok(())
    }

    fn install(&self, list: RevocationList, signed: SignedRevocations) {
        let mut held = self.revocations.write().unwrap_or_else(|e| e.into_inner());
        let number = list.number;
        self.authority.get().set_revocations(&list);
        held.list = list;
        held.signed = Some(signed);
        self.revocation_number.send_replace(number);
    }

    /// Changes whenever a newer revocation list comes into force.
    pub fn revocations_changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.revocation_number.subscribe()
    }

    /// The number of the newest revocation list this node holds (0: none).
    pub fn revocation_number(&self) -> u64 {
        self.revocations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .list
            .number
    }

    /// The list this node holds, as signed, to pass along.
    pub fn signed_revocations(&self) -> Option<SignedRevocations> {
        self.revocations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .signed
            .clone()
    }

    /// Takes a list a peer passed along (or the admin wrote) if the CA signed it and it is newer
    /// than ours; keeps it in the data directory. Ok(true) when it replaced ours.
    pub fn offer_revocations(&self, signed: &SignedRevocations) -> Result<bool, PkiError> {
        let list = signed.verify(&self.ca_pem)?;
        if list.number <= self.revocation_number() {
            return Ok(false);
        }
        if let Some(dir) = &self.data_dir {
            signed.save(dir)?;
        }
        tracing::warn!(
            number = list.number,
            revoked = list.revoked.len(),
            "a newer revocation list arrived; revoked nodes are refused from now on"
        );
        self.install(list, signed.clone());
        Ok(true)
    }

    /// Re-reads the list in the data directory (`neiqin node revoke` writes it while the node
    /// runs). Ok(true) when it was newer.
    pub fn reload_revocations(&self) -> Result<bool, PkiError> {
        let Some(dir) = &self.data_dir else {
            return Ok(false);
        };
        match SignedRevocations::load(dir, &self.ca_pem)? {
            Some((list, signed)) if list.number > self.revocation_number() => {
                self.install(list, signed);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// A digest of the node certificates this node knows.
    pub fn certificates_digest(&self) -> u64 {
        self.authority.get().known_digest()
    }

    /// The node certificates this node knows, to pass along.
    pub fn certificate_pems(&self) -> Vec<String> {
        self.authority.get().known_pems()
    }

    /// Takes the certificates a peer passed along (only the cluster CA's count).
    pub fn learn_certificates(&self, pems: &[String]) {
        let added = self.authority.get().learn(pems, true);
        if added > 0 {
            tracing::info!(added, "learned the certificates of other nodes");
        }
    }

    /// Refuses a node the list revokes.
    pub fn check_not_revoked(&self, node_id: &str) -> Result<(), PkiError> {
        let held = self.revocations.read().unwrap_or_else(|e| e.into_inner());
        match held.list.revoked.iter().find(|r| r.node_id == node_id) {
            Some(r) => Err(PkiError::Revoked {
                node_id: node_id.to_string(),
                reason: r.reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// For the peer endpoint: accepts only clients with a certificate of the cluster CA.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.server.clone())
    }

    /// For the peer client: presents this node's certificate, accepts only the cluster CA's.
    pub fn client_config(&self) -> ClientConfig {
        (*self.client).clone()
    }

    /// Who the certificate a peer presented names. The handshake has already checked the chain;
    /// this reads the node id and roles, and refuses what the handshake cannot know about.
    pub fn identify(&self, certificate: &[u8]) -> Result<NodeCertificate, PkiError> {
        use sha2::{Digest, Sha256};
        let key: [u8; 32] = Sha256::digest(certificate).into();
        let now = chrono::Utc::now();
        let known = self
            .identified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .filter(|node| node.not_before <= now && now <= node.not_after)
            .cloned();
        let node = match known {
            Some(node) => node,
            None => {
                let node = NodeCertificate::verify_der(certificate, &self.ca_der, now)?;
                let mut identified = self.identified.lock().unwrap_or_else(|e| e.into_inner());
                // Peers are tens of nodes; a flood of strangers' certificates never gets here
                // (the handshake refused them), so this only bounds renewals piling up.
                if identified.len() >= 1024 {
                    identified.clear();
                }
                identified.insert(key, node.clone());
                node
            }
        };
        self.check_not_revoked(&node.node_id)?;
        Ok(node)
    }
}

/// The client's check of a peer endpoint's certificate: the chain to the cluster CA, its dates
/// and key usage, as webpki checks them; no host name (node certificates name nodes, not hosts).
#[derive(Debug)]
struct ClusterServerVerifier {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ClusterServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
