//! The TLS certificate's expiry: read from the certificate's DER with `x509-parser` and set as
//! `ferroswitch_tls_certificate_expiry_timestamp_seconds`. Called wherever a certificate is
//! loaded: at start and at a reload.

/// Why a certificate's expiry could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CertificateError {
    #[error("the certificate is not valid DER X.509: {reason}")]
    Unparsable { reason: String },
    #[error("{trailing} bytes follow the certificate's DER")]
    Trailing { trailing: usize },
}

/// The certificate's notAfter, seconds since the epoch.
pub(crate) fn not_after(der: &[u8]) -> Result<i64, CertificateError> {
    let (rest, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| CertificateError::Unparsable {
            reason: e.to_string(),
        })?;
    if !rest.is_empty() {
        return Err(CertificateError::Trailing {
            trailing: rest.len(),
        });
    }
    Ok(cert.validity().not_after.timestamp())
}

/// A certificate (the end-entity one, first in the chain) was loaded: sets the expiry gauge
/// and logs when it is read, or why it is not.
pub(crate) fn certificate_loaded(der: &[u8]) {
    match not_after(der) {
        Ok(t) => {
            let days_left = (t - (crate::clock::unix_ms() / 1000) as i64) / 86_400;
            tracing::info!(not_after = t, days_left, "TLS certificate loaded");
            metrics::gauge!(super::TLS_CERT_EXPIRY).set(t as f64);
        }
        Err(e) => tracing::warn!("TLS certificate expiry unknown: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate made with a known notAfter reads back as that instant.
    #[test]
    fn expiry_is_read_from_the_der() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 5, 17);
        let cert = params.self_signed(&key).unwrap();
        // 2031-05-17T00:00:00Z
        assert_eq!(not_after(cert.der()).unwrap(), 1_936_742_400);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(matches!(
            not_after(b"not a certificate"),
            Err(CertificateError::Unparsable { .. })
        ));
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let mut der = params.self_signed(&key).unwrap().der().to_vec();
        der.extend_from_slice(b"xx");
        assert!(matches!(
            not_after(&der),
            Err(CertificateError::Trailing { trailing: 2 })
        ));
    }
}
