//! Server flavors and versions: presslabs' version aliases (`5.7`, `8.0`), the image each
//! known version runs, and the flavor inferred from image or version.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which server family a cluster runs; decides the SQL dialect for replication and GTIDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// Oracle MySQL.
    Mysql,
    /// Percona Server for MySQL (what presslabs ran; MySQL-compatible SQL).
    Percona,
    /// MariaDB (its own GTID format and replication syntax).
    Mariadb,
}

impl Flavor {
    /// The name used in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::Mysql => "mysql",
            Flavor::Percona => "percona",
            Flavor::Mariadb => "mariadb",
        }
    }

    /// MySQL and Percona share SQL and GTID syntax; only MariaDB differs.
    pub fn is_mariadb(self) -> bool {
        self == Flavor::Mariadb
    }
}

impl std::fmt::Display for Flavor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A server version the operator knows how to run without an explicit `image`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownVersion {
    /// Full version, e.g. `8.0.25`.
    pub version: &'static str,
    /// Image run for this version when `spec.image` is empty.
    pub image: &'static str,
    /// Server family of that image.
    pub flavor: Flavor,
}

/// The version used when `mysqlVersion` is empty (presslabs defaulted to the `5.7` alias).
pub const DEFAULT_VERSION: &str = "5.7";

/// Short aliases accepted in `mysqlVersion` and the full version each stands for,
/// as presslabs' `MySQLTagsToSemVer`, plus MariaDB series.
pub const VERSION_ALIASES: &[(&str, &str)] = &[
    ("5.7", "5.7.35"),
    ("8.0", "8.0.25"),
    ("10.6", "10.6.21"),
    ("10.11", "10.11.11"),
    ("11.4", "11.4.5"),
];

/// Full versions with a known image, as presslabs' `MysqlImageVersions` (Percona images),
/// plus MariaDB releases from the official `mariadb` image.
pub const KNOWN_VERSIONS: &[KnownVersion] = &[
    KnownVersion {
        version: "8.0.25",
        image: "percona:8.0.25-15",
        flavor: Flavor::Percona,
    },
    KnownVersion {
        version: "8.0.20",
        image: "percona:8.0.20-11",
        flavor: Flavor::Percona,
    },
    KnownVersion {
        version: "5.7.35",
        image: "percona:5.7.35",
        flavor: Flavor::Percona,
    },
    KnownVersion {
        version: "5.7.34",
        image: "percona:5.7.34",
        flavor: Flavor::Percona,
    },
    KnownVersion {
        version: "5.7.33",
        image: "percona:5.7.33",
        flavor: Flavor::Percona,
    },
    KnownVersion {
        version: "5.7.31",
        image: "percona:5.7.31",
        flavor: Flavor::Percona,
    },
    KnownVersion {
        version: "5.7.26",
        image: "percona:5.7.26",
        flavor: Flavor::Percona,
    },
    KnownVersion {
        version: "5.7.24",
        image: "percona:5.7.24",
        flavor: Flavor::Percona,
    },
    KnownVersion {
        version: "10.6.21",
        image: "mariadb:10.6.21",
        flavor: Flavor::Mariadb,
    },
    KnownVersion {
        version: "10.11.11",
        image: "mariadb:10.11.11",
        flavor: Flavor::Mariadb,
    },
    KnownVersion {
        version: "11.4.5",
        image: "mariadb:11.4.5",
        flavor: Flavor::Mariadb,
    },
];

/// Why a version or image could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The version is neither an alias nor a known full version, and no image was given.
    #[error(
        "unknown mysqlVersion {version:?}; known: {known}; or set spec.image to run another version"
    )]
    Unknown {
        /// The version as written.
        version: String,
        /// The versions and aliases accepted, comma-separated.
        known: String,
    },
}

/// Expand an alias (`8.0` → `8.0.25`); full or unknown versions are returned unchanged.
pub fn expand_alias(version: &str) -> &str {
    let v = version.trim();
    VERSION_ALIASES
        .iter()
        .find(|(a, _)| *a == v)
        .map_or(v, |(_, full)| full)
}

/// Look up a version (alias or full) in the table of versions with a known image.
pub fn lookup(version: &str) -> Option<&'static KnownVersion> {
    let full = expand_alias(version);
    KNOWN_VERSIONS.iter().find(|k| k.version == full)
}

/// Every accepted version string (aliases first), for hints.
pub fn known_list() -> String {
    VERSION_ALIASES
        .iter()
        .map(|(a, _)| *a)
        .chain(KNOWN_VERSIONS.iter().map(|k| k.version))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Infer the flavor from an image reference's name (the last path component, without tag
/// or digest): `mariadb…` → MariaDB, `percona…` → Percona, `mysql`, `mysql-server` or
/// `mysql-community-server` → MySQL; `None` when the name says nothing — including names
/// that merely contain a flavor's word, such as the tools image `mysql-tools` that also
/// carries MariaDB (then `spec.flavor` or the version decides).
pub fn flavor_from_image(image: &str) -> Option<Flavor> {
    let repo = image.split('@').next().unwrap_or(image);
    let repo = match repo.rfind(':') {
        Some(i) if !repo[i..].contains('/') => &repo[..i],
        _ => repo,
    };
    let name = repo.rsplit('/').next().unwrap_or(repo).to_ascii_lowercase();
    if name.starts_with("mariadb") {
        Some(Flavor::Mariadb)
    } else if name.starts_with("percona") {
        Some(Flavor::Percona)
    } else if matches!(
        name.as_str(),
        "mysql" | "mysql-server" | "mysql-community-server"
    ) {
        Some(Flavor::Mysql)
    } else {
        None
    }
}

/// Infer the flavor from a version: MariaDB numbers its releases 10.x and later; 5.x and
/// 8.x are presslabs' Percona images.
pub fn flavor_from_version(version: &str) -> Flavor {
    if let Some(k) = lookup(version) {
        return k.flavor;
    }
    let major = expand_alias(version)
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(m) if (10..=12).contains(&m) => Flavor::Mariadb,
        _ => Flavor::Percona,
    }
}
