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
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use std::sync::Arc;

use crate::pki::{NodeCertificate, NodeCredentials, PkiError};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("this node's certificate or key cannot be used for TLS: {0}")]
    Credentials(String),
}

/// This node's TLS settings for both ends of a peer link.
#[derive(Clone)]
pub struct PeerTls {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    ca_der: Arc<Vec<u8>>,
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
    pub fn new(credentials: &NodeCredentials) -> Result<PeerTls, TlsError> {
        use rustls::pki_types::pem::PemObject;
        let ca = pem_certificate(&credentials.ca_pem, "cluster CA certificate")?;
        let cert = pem_certificate(&credentials.cert_pem, "node certificate")?;
        let key = PrivateKeyDer::from_pem_slice(credentials.key_pem.as_bytes())
            .map_err(|e| TlsError::Credentials(format!("node key: {e}")))?;
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.clone())
            .map_err(|e| TlsError::Credentials(format!("cluster CA certificate: {e}")))?;
        let roots = Arc::new(roots);
        let provider = provider();
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
            .with_single_cert(vec![cert.clone()], key.clone_key())
            .map_err(|e| TlsError::Credentials(e.to_string()))?;

        let server_verifier = Arc::new(ClusterServerVerifier {
            roots,
            provider: provider.clone(),
        });
        let client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&tls13)
            .map_err(|e| TlsError::Credentials(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(server_verifier)
            .with_client_auth_cert(vec![cert], key)
            .map_err(|e| TlsError::Credentials(e.to_string()))?;
        Ok(PeerTls {
            server: Arc::new(server),
            client: Arc::new(client),
            ca_der: Arc::new(ca.to_vec()),
        })
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
        NodeCertificate::verify_der(certificate, &self.ca_der, chrono::Utc::now())
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
