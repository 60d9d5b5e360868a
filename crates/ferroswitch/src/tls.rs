//! TLS server configuration: certificate and key from config; a self-signed development
//! certificate is generated when the files are missing and the config allows it.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _};
use ferroswitch_config::TlsSettings;
use rustls::pki_types::pem::{self, PemObject as _};
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
    let pem =
        fs::read(path).with_context(|| format!("opening TLS certificate {}", path.display()))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading PEM certificates from {}", path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem =
        fs::read(path).with_context(|| format!("opening TLS private key {}", path.display()))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        pem::Error::NoItemsFound => anyhow!("{} holds no PEM private key", path.display()),
        e => anyhow!("reading PEM private key from {}: {e}", path.display()),
    })
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
            create_private_dir(dir)?;
        }
    }
    if cert_path == key_path {
        write_private(
            cert_path,
            &format!("{}{}", ck.cert.pem(), ck.key_pair.serialize_pem()),
        )?;
    } else {
        fs::write(cert_path, ck.cert.pem())
            .with_context(|| format!("writing {}", cert_path.display()))?;
        write_private(key_path, &ck.key_pair.serialize_pem())?;
    }
    tracing::warn!(
        "generated a self-signed development certificate {} (for localhost, 127.0.0.1, ::1); use a real one in production",
        cert_path.display()
    );
    Ok(())
}

/// Creates `dir` and its missing parents, the ones created mode 0700 on Unix (the key lives
/// there).
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Writes a private key file, mode 0600 on Unix from its creation on.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))
}
