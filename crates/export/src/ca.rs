//! The box's own certificate authority: a key made on the box at first start, whose certificate
//! the export service trusts besides the public web roots, so that a destination on the owner's
//! own network (a NAS, a home server) can be reached over verified TLS with a certificate the box
//! issued. Files: `tls/ca.pem` (the certificate, to give to devices) and `tls/ca.key` (0600).

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// Why the CA could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// Its files could not be read or written.
    #[error("the box's CA files: {0}")]
    Io(#[from] std::io::Error),
    /// Making or reading a key or certificate failed.
    #[error("the box's CA: {0}")]
    Cert(#[from] rcgen::Error),
}

/// The box's CA.
pub struct BoxCa {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// The CA's fixed parameters: a later start rebuilds the same issuer from them and the key.
fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, "Databox box CA");
    p.distinguished_name.push(DnType::OrganizationName, "Databox");
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p
}

impl BoxCa {
    /// Loads the CA of the box in `data_dir`, making it on first use.
    pub fn load_or_create(data_dir: &Path) -> Result<BoxCa, CaError> {
        let dir = data_dir.join("tls");
        let (cert_path, key_path) = (dir.join("ca.pem"), dir.join("ca.key"));
        if cert_path.exists() && key_path.exists() {
            let key = KeyPair::from_pem(&std::fs::read_to_string(&key_path)?)?;
            return Ok(BoxCa {
                cert_pem: std::fs::read_to_string(&cert_path)?,
                issuer: Issuer::new(ca_params(), key),
            });
        }
        std::fs::create_dir_all(&dir)?;
        let key = KeyPair::generate()?;
        let params = ca_params();
        let cert = params.self_signed(&key)?;
        databox_store::write_private_file(&key_path, key.serialize_pem().as_bytes())?;
        databox_store::write_private_file(&cert_path, cert.pem().as_bytes())?;
        Ok(BoxCa {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA's certificate (PEM), for devices and for the export service to trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues a server certificate for `names` (host names or IP addresses): `(cert PEM, key PEM)`.
    pub fn issue(&self, names: &[&str]) -> Result<(String, String), CaError> {
        let params = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())?;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}
