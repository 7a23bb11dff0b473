//! Azure Storage for the `azure` and `azurite` environments, through Microsoft's maintained SDK
//! (`azure_core` 1.x and `azure_storage_blob` 1.x; the older `azure_storage_blobs` 0.21 line is
//! frozen since October 2024).
//!
//! An [`Account`] is where the storage is and how requests are authorised: from a connection
//! string (`AZURE_STORAGE_CONNECTION_STRING`, the variable Azure tools already read), or
//! Azurite's well-known development account. The SDK authenticates with Entra ID tokens or SAS
//! URLs; an account given by its key (as Azurite's is) signs an account SAS with it here, so the
//! key itself never travels. [`blob::BlobLake`] is the data lake in a container, with the
//! conditional writes and leases the registry and the state lock are built on.

pub mod blob;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use azure_core::credentials::Secret;

/// Azurite's development account: its name and key are public and the same everywhere.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// Azurite's default blob endpoint.
pub const AZURITE_BLOB_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";

/// The service version the SAS tokens are signed for (its string-to-sign format).
const SAS_VERSION: &str = "2024-08-04";
/// How long a signed SAS stays valid. A client signs a fresh one when it is created.
const SAS_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// A storage account setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AccountError(pub String);

/// How requests to the account are authorised.
#[derive(Clone)]
enum Auth {
    /// The account key (base64), which signs account SAS tokens here.
    Key(Secret),
    /// A SAS token given by the user (the query string, without `?`).
    Sas(Secret),
}

/// A storage account: its name, its blob endpoint, and how requests are authorised.
#[derive(Clone)]
pub struct Account {
    pub name: String,
    /// The blob service's base URL, without a trailing slash
    /// (`https://NAME.blob.core.windows.net`, `http://127.0.0.1:10000/devstoreaccount1`).
    pub blob_endpoint: String,
    auth: Auth,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key or the SAS.
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("blob_endpoint", &self.blob_endpoint)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// Azurite's development account at `blob_endpoint` (its default when `None`).
    pub fn azurite(blob_endpoint: Option<&str>) -> Account {
        let endpoint = blob_endpoint.unwrap_or(AZURITE_BLOB_ENDPOINT);
        let endpoint = endpoint.trim_end_matches('/');
        // Azurite names the account in the path; an endpoint given without it gets it.
        let endpoint = if endpoint.ends_with(AZURITE_ACCOUNT) {
            endpoint.to_string()
        } else {
            format!("{endpoint}/{AZURITE_ACCOUNT}")
        };
        Account {
            name: AZURITE_ACCOUNT.to_string(),
            blob_endpoint: endpoint,
            auth: Auth::Key(Secret::new(AZURITE_KEY)),
        }
    }

    /// An account from a connection string: `AccountName=…;AccountKey=…` (with
    /// `DefaultEndpointsProtocol`, `EndpointSuffix` or `BlobEndpoint`), `BlobEndpoint=…;
    /// SharedAccessSignature=…`, or `UseDevelopmentStorage=true` (Azurite).
    ///
    /// ```
    /// use mlinfra_core::azure::Account;
    /// let a = Account::from_connection_string("DefaultEndpointsProtocol=https;AccountName=mlx;AccountKey=a2V5;EndpointSuffix=core.windows.net").unwrap();
    /// assert_eq!(a.blob_endpoint, "https://mlx.blob.core.windows.net");
    /// let e = Account::from_connection_string("AccountName=mlx").unwrap_err();
    /// assert!(e.to_string().contains("`AccountKey`"));
    /// ```
    pub fn from_connection_string(s: &str) -> Result<Account, AccountError> {
        let mut fields = std::collections::BTreeMap::new();
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(AccountError(format!(
                    "connection string: `{}` is not `Name=value`; expected e.g. `AccountName=…;AccountKey=…`",
                    redact(part)
                )));
            };
            fields.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
        if fields
            .get("usedevelopmentstorage")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            let proxy = fields.get("developmentstorageproxyuri").map(String::as_str);
            return Ok(Account::azurite(proxy));
        }
        let name = fields.get("accountname").cloned();
        let endpoint = match (fields.get("blobendpoint"), &name) {
            (Some(e), _) => e.trim_end_matches('/').to_string(),
            (None, Some(n)) => {
                let proto = fields
                    .get("defaultendpointsprotocol")
                    .map_or("https", String::as_str);
                let suffix = fields
                    .get("endpointsuffix")
                    .map_or("core.windows.net", String::as_str);
                format!("{proto}://{n}.blob.{suffix}")
            }
            (None, None) => {
                return Err(AccountError(
                    "connection string: neither `AccountName` nor `BlobEndpoint` is set; expected `AccountName=…;AccountKey=…` or `UseDevelopmentStorage=true`".into(),
                ));
            }
        };
        let name = name.unwrap_or_else(|| account_of_endpoint(&endpoint));
        let auth = match (
            fields.get("accountkey"),
            fields.get("sharedaccesssignature"),
        ) {
            (Some(k), _) => {
                if azure_core::base64::decode(k).is_err() {
                    return Err(AccountError(
                        "connection string: `AccountKey` is not base64; copy it from the portal's Access keys, or use `SharedAccessSignature`".into(),
                    ));
                }
                Auth::Key(Secret::new(k.clone()))
            }
            (None, Some(sas)) => Auth::Sas(Secret::new(sas.trim_start_matches('?').to_string())),
            (None, None) => {
                return Err(AccountError(format!(
                    "connection string for account `{name}`: neither `AccountKey` nor `SharedAccessSignature` is set"
                )));
            }
        };
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            return Err(AccountError(format!(
                "connection string: blob endpoint `{endpoint}` is not an http(s) URL"
            )));
        }
        Ok(Account {
            name,
            blob_endpoint: endpoint,
            auth,
        })
    }

    /// The account from `AZURE_STORAGE_CONNECTION_STRING`, `None` when it is not set.
    pub fn from_env() -> Result<Option<Account>, AccountError> {
        match std::env::var("AZURE_STORAGE_CONNECTION_STRING") {
            Ok(s) if !s.trim().is_empty() => Account::from_connection_string(&s)
                .map(Some)
                .map_err(|e| AccountError(format!("AZURE_STORAGE_CONNECTION_STRING: {e}"))),
            _ => Ok(None),
        }
    }

    /// The query string that authorises a request (without `?`): the user's SAS, or an account
    /// SAS for the blob service signed with the key, valid from a minute ago for a week.
    pub fn sas(&self) -> Result<String, AccountError> {
        match &self.auth {
            Auth::Sas(s) => Ok(s.secret().to_string()),
            Auth::Key(key) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                let start = crate::clock::rfc3339(now.saturating_sub(60));
                let expiry = crate::clock::rfc3339(now + SAS_LIFETIME.as_secs());
                let (permissions, services, types, protocol) =
                    ("racwdlt", "b", "sco", "https,http");
                // The account SAS string-to-sign of service version 2020-12-06 and later.
                let to_sign = format!(
                    "{}\n{permissions}\n{services}\n{types}\n{start}\n{expiry}\n\n{protocol}\n{SAS_VERSION}\n\n",
                    self.name
                );
                let sig = azure_core::hmac::hmac_sha256(&to_sign, key).map_err(|e| {
                    AccountError(format!("cannot sign a SAS with the account key: {e}"))
                })?;
                Ok(format!(
                    "sv={SAS_VERSION}&ss={services}&srt={types}&sp={permissions}&st={}&se={}&spr={}&sig={}",
                    enc(&start),
                    enc(&expiry),
                    enc(protocol),
                    enc(&sig)
                ))
            }
        }
    }

    /// A connection string that grants what [`Account::sas`] grants, for a process this one
    /// starts (a function under `mlinfra serve --env azurite`): the SAS, never the key.
    pub fn sas_connection_string(&self) -> Result<String, AccountError> {
        Ok(format!(
            "BlobEndpoint={};SharedAccessSignature={}",
            self.blob_endpoint,
            self.sas()?
        ))
    }

    /// The URL of a container, authorised (the SAS in its query).
    pub fn container_url(&self, container: &str) -> Result<azure_core::http::Url, AccountError> {
        let raw = format!("{}/{container}?{}", self.blob_endpoint, self.sas()?);
        azure_core::http::Url::parse(&raw).map_err(|e| {
            AccountError(format!(
                "blob endpoint `{}`: not a valid URL ({e})",
                self.blob_endpoint
            ))
        })
    }
}

/// The container a function's configuration names by its URL
/// (`<blob endpoint>/<container>`), with the account from `AZURE_STORAGE_CONNECTION_STRING`
/// when that account's endpoint is the URL's, or Azurite's development account when the URL is
/// an Azurite one (`…/devstoreaccount1/<container>`).
pub fn container_at(url: &str) -> Result<blob::BlobLake, AccountError> {
    let url = url.trim_end_matches('/');
    let Some((endpoint, container)) = url.rsplit_once('/') else {
        return Err(AccountError(format!(
            "`{url}` is not a blob container URL: expected `<blob endpoint>/<container>`"
        )));
    };
    let account = match Account::from_env()? {
        Some(a) if a.blob_endpoint == endpoint => a,
        _ if endpoint.ends_with(&format!("/{AZURITE_ACCOUNT}")) => Account::azurite(Some(endpoint)),
        _ => {
            return Err(AccountError(format!(
                "no credentials for `{url}`: set AZURE_STORAGE_CONNECTION_STRING to the connection string of the account at `{endpoint}`"
            )));
        }
    };
    blob::BlobLake::new(&account, container).map_err(|e| AccountError(e.message))
}

/// The account name in an endpoint: the first label of `NAME.blob.…`, or Azurite's path.
fn account_of_endpoint(endpoint: &str) -> String {
    let rest = endpoint.split("://").nth(1).unwrap_or(endpoint);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if !path.is_empty() {
        return path.trim_matches('/').to_string();
    }
    host.split('.').next().unwrap_or(host).to_string()
}

/// A connection string part for a message, with any secret value hidden.
fn redact(part: &str) -> String {
    if part.len() > 12 {
        format!(
            "{}…",
            &part[..part.char_indices().nth(8).map_or(part.len(), |(i, _)| i)]
        )
    } else {
        part.to_string()
    }
}

/// Percent-encoding of a query value (RFC 3986 unreserved characters kept).
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An SDK error as a few words: the HTTP status and the service's error code, or the cause of
/// a failed connection.
pub fn describe(e: &azure_core::Error) -> String {
    use azure_core::error::ErrorKind;
    match e.kind() {
        ErrorKind::HttpResponse {
            status, error_code, ..
        } => {
            let code = error_code.as_deref().unwrap_or("no error code");
            let hint = match u16::from(*status) {
                403 => " (access denied: the SAS or key does not authorise this, or it expired)",
                _ => "",
            };
            format!("HTTP {} {code}{hint}", u16::from(*status))
        }
        _ => match crate::cloud_error::cause(e) {
            crate::cloud_error::Cause::Unreachable(why) => {
                format!("the blob endpoint cannot be reached: {why}")
            }
            crate::cloud_error::Cause::NoCredentials => "no credentials".to_string(),
            crate::cloud_error::Cause::Other(m) => m,
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn azurite_from_its_connection_string() {
        let a = Account::from_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(a.name, AZURITE_ACCOUNT);
        assert_eq!(a.blob_endpoint, AZURITE_BLOB_ENDPOINT);
        let b = Account::from_connection_string(&format!(
            "DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:4000/{AZURITE_ACCOUNT};"
        ))
        .unwrap();
        assert_eq!(b.blob_endpoint, "http://127.0.0.1:4000/devstoreaccount1");
        assert_eq!(
            Account::azurite(Some("http://127.0.0.1:4000")).blob_endpoint,
            b.blob_endpoint
        );
    }

    #[test]
    fn bad_connection_strings_name_the_field() {
        let e = |s: &str| Account::from_connection_string(s).unwrap_err().0;
        assert!(e("AccountName=x;AccountKey=not base64!").contains("`AccountKey` is not base64"));
        assert!(e("AccountKey=a2V5").contains("neither `AccountName` nor `BlobEndpoint`"));
        assert!(e("AccountName=x;garbage").contains("`garbage` is not `Name=value`"));
        // A malformed part that may hold a secret is cut short in the message.
        assert!(!e("AccountName=x;AccountKeyabcdefghijklmnop").contains("ijklmnop"));
    }

    #[test]
    fn sas_is_signed_and_never_in_debug() {
        let a = Account::azurite(None);
        let sas = a.sas().unwrap();
        assert!(sas.starts_with("sv=2024-08-04&ss=b&srt=sco&sp=racwdlt&st="));
        assert!(sas.contains("&sig="));
        let dbg = format!("{a:?}");
        assert!(!dbg.contains(AZURITE_KEY) && !dbg.contains("sig="), "{dbg}");
        let user = Account::from_connection_string(
            "BlobEndpoint=https://acc.blob.core.windows.net;SharedAccessSignature=?sv=x&sig=y",
        )
        .unwrap();
        assert_eq!(user.name, "acc");
        assert_eq!(user.sas().unwrap(), "sv=x&sig=y");
    }
}
