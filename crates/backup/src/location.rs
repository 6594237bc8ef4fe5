//! Where backups live: parsing `s3://bucket/prefix` URLs, the presslabs object layout
//! `<backupURL>/<name>.xbackup.gz`, and the S3 settings read from the backup Secret's
//! variables (presslabs names).

use crate::BackupError;
use crate::compress::Compression;
use std::collections::BTreeMap;

/// An object (or prefix) in a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectUrl {
    pub bucket: String,
    /// Key without a leading slash; a prefix when it ends with `/` or is empty.
    pub key: String,
}

impl ObjectUrl {
    /// Parse `s3://bucket/key`. Other schemes presslabs knew (gs, azure, http) are refused
    /// with a message naming the field, because we only speak S3.
    pub fn parse(field: &str, url: &str) -> Result<ObjectUrl, BackupError> {
        let Some(rest) = url.strip_prefix("s3://") else {
            let scheme = url.split("://").next().unwrap_or(url);
            return Err(BackupError::config(
                field,
                format!(
                    "`{url}`: only s3:// URLs are supported (got scheme `{scheme}`); use an \
                     S3-compatible endpoint via S3_ENDPOINT, e.g. s3://my-bucket/backups"
                ),
            ));
        };
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(BackupError::config(
                field,
                format!("`{url}` names no bucket; expected s3://<bucket>/<path>"),
            ));
        }
        Ok(ObjectUrl {
            bucket: bucket.to_string(),
            key: key.trim_start_matches('/').to_string(),
        })
    }

    /// The object `<self>/<name>.xbackup.<ext>` (presslabs layout) under this prefix.
    pub fn backup_object(&self, name: &str, compression: Compression) -> ObjectUrl {
        let prefix = self.key.trim_end_matches('/');
        let file = format!("{name}{}", compression.suffix());
        let key = if prefix.is_empty() {
            file
        } else {
            format!("{prefix}/{file}")
        };
        ObjectUrl {
            bucket: self.bucket.clone(),
            key,
        }
    }

    /// The prefix for listings: the key with exactly one trailing slash (empty for the root).
    pub fn as_prefix(&self) -> String {
        let k = self.key.trim_end_matches('/');
        if k.is_empty() {
            String::new()
        } else {
            format!("{k}/")
        }
    }
}

impl std::fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// Connection settings for the object store, from the backup Secret.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
    /// Custom endpoint for S3-compatible stores (`S3_ENDPOINT`); path-style when set.
    pub endpoint: Option<String>,
    pub force_path_style: bool,
    pub storage_class: Option<String>,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("force_path_style", &self.force_path_style)
            .finish()
    }
}

impl S3Settings {
    /// Read the presslabs variable names from the process environment (the backup Secret
    /// is mounted with `envFrom`).
    pub fn from_env() -> Result<S3Settings, BackupError> {
        let vars: BTreeMap<String, String> = std::env::vars().collect();
        Self::from_vars(&vars)
    }

    /// Read the presslabs variable names from a map (a Secret's decoded data).
    pub fn from_vars(vars: &BTreeMap<String, String>) -> Result<S3Settings, BackupError> {
        let get = |k: &str| {
            vars.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let required = |k: &str| {
            get(k).ok_or_else(|| {
                BackupError::config(
                    k,
                    format!(
                        "missing; set {k} in the backup Secret (spec.backupSecretName) or the \
                         environment"
                    ),
                )
            })
        };
        let endpoint = get("S3_ENDPOINT").map(|e| {
            if e.contains("://") {
                e
            } else {
                format!("https://{e}")
            }
        });
        let force_path_style = match get("S3_FORCE_PATH_STYLE").as_deref() {
            Some("true") | Some("1") => true,
            Some("false") | Some("0") => false,
            Some(other) => {
                return Err(BackupError::config(
                    "S3_FORCE_PATH_STYLE",
                    format!("`{other}` is not a boolean; use true or false"),
                ));
            }
            None => endpoint.is_some(),
        };
        Ok(S3Settings {
            access_key_id: required("AWS_ACCESS_KEY_ID")?,
            secret_access_key: required("AWS_SECRET_ACCESS_KEY")?,
            region: get("AWS_REGION")
                .or_else(|| get("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".to_string()),
            endpoint,
            force_path_style,
            storage_class: get("AWS_STORAGE_CLASS"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_presslabs_layout() {
        let u = ObjectUrl::parse("backupURL", "s3://bk/clusters/one/").unwrap();
        assert_eq!(u.bucket, "bk");
        assert_eq!(
            u.backup_object("one-2024-01-01T00-00-00", Compression::Gzip)
                .key,
            "clusters/one/one-2024-01-01T00-00-00.xbackup.gz"
        );
        let root = ObjectUrl::parse("backupURL", "s3://bk").unwrap();
        assert_eq!(
            root.backup_object("x", Compression::Zstd).key,
            "x.xbackup.zst"
        );
        assert_eq!(root.as_prefix(), "");
    }

    #[test]
    fn refuses_other_schemes_naming_the_field() {
        let err = ObjectUrl::parse("initBucketURL", "gs://bk/x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("initBucketURL") && err.contains("gs"), "{err}");
        let err = ObjectUrl::parse("backupURL", "s3:///x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no bucket"), "{err}");
    }

    #[test]
    fn settings_from_presslabs_variables() {
        let mut vars = BTreeMap::new();
        vars.insert("AWS_ACCESS_KEY_ID".into(), "ak".into());
        let err = S3Settings::from_vars(&vars).unwrap_err().to_string();
        assert!(err.contains("AWS_SECRET_ACCESS_KEY"), "{err}");
        vars.insert("AWS_SECRET_ACCESS_KEY".into(), "sk".into());
        vars.insert("S3_ENDPOINT".into(), "127.0.0.1:9000".into());
        let s = S3Settings::from_vars(&vars).unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("https://127.0.0.1:9000"));
        assert!(s.force_path_style);
        assert_eq!(s.region, "us-east-1");
        assert!(!format!("{s:?}").contains("sk\""));
    }
}
