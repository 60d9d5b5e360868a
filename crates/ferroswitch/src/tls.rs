//! TLS server configuration: certificate and key from config; a self-signed development
//! certificate is generated when the files are missing and the config allows it.

use std::fs;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use ferroswitch_config::TlsSettings;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The server config for `tls`, with the certificate chain it presents (a reload compares
/// chains to tell a renewed certificate).
pub(crate) fn server_config(
    tls: &TlsSettings,
) -> anyhow::Result<(Arc<rustls::ServerConfig>, Vec<CertificateDer<'static>>)> {
    if !tls.certificate.exists() {
        if !tls.generate_self_signed {
            bail!(
                "TLS certificate {} does not exist; point tls.certificate at a PEM file or set generate_self_signed = true",
                tls.certificate.display()
            );
        }
        generate_self_signed(&tls.certificate, &tls.private_key)?;
    }
    let certs = read_certs(&tls.certificate)?;
    let leaf = certs[0].clone();
    let key = read_key(&tls.private_key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs.clone(), key)
        .with_context(|| {
            format!(
                "TLS certificate {} does not match its key",
                tls.certificate.display()
            )
        })?;
    // only a certificate that is going to be served sets the expiry gauge
    crate::metrics::tls::certificate_loaded(&leaf);
    Ok((Arc::new(cfg), certs))
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let f = fs::File::open(path)
        .with_context(|| format!("opening TLS certificate {}", path.display()))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut BufReader::new(f))
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading PEM certificates from {}", path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let f = fs::File::open(path)
        .with_context(|| format!("opening TLS private key {}", path.display()))?;
    rustls_pemfile::private_key(&mut BufReader::new(f))
        .with_context(|| format!("reading PEM private key from {}", path.display()))?
        .with_context(|| format!("{} holds no PEM private key", path.display()))
}

fn generate_self_signed(cert_path: &Path, key_path: &Path) -> anyhow::Result<()> {
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let ck = rcgen::generate_simple_self_signed(names)
        .context("generating a self-signed certificate")?;
    for p in [cert_path, key_path] {
        if let Some(dir) = p.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    if cert_path == key_path {
        fs::write(
            cert_path,
            format!("{}{}", ck.cert.pem(), ck.key_pair.serialize_pem()),
        )?;
    } else {
        fs::write(cert_path, ck.cert.pem())
            .with_context(|| format!("writing {}", cert_path.display()))?;
        fs::write(key_path, ck.key_pair.serialize_pem())
            .with_context(|| format!("writing {}", key_path.display()))?;
    }
    tracing::warn!(
        "generated a self-signed development certificate {} (for localhost, 127.0.0.1, ::1); use a real one in production",
        cert_path.display()
    );
    Ok(())
}
