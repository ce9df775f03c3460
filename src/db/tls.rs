//! TLS to Postgres with rustls. RDS certificates chain to Amazon's own CAs, which are not in the
//! Mozilla roots, so `PGSSLROOTCERT` (the RDS bundle shipped in the image) adds roots.
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

pub fn connector(tls_wanted: bool, ca_file: Option<&Path>) -> anyhow::Result<MakeRustlsConnect> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let (true, Some(path)) = (tls_wanted, ca_file) {
        let certs = CertificateDer::pem_file_iter(path)
            .with_context(|| format!("reading PGSSLROOTCERT {}", path.display()))?;
        for cert in certs {
            let cert = cert.with_context(|| format!("parsing PGSSLROOTCERT {}", path.display()))?;
            roots
                .add(cert)
                .context("adding a PGSSLROOTCERT certificate")?;
        }
    }
    // An explicit provider: the process-wide default is ambiguous when several are compiled in.
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}
