//! Turning ConfigMap bytes into the module's Wasm bytes: decompression with a hard size cap,
//! multi-part assembly from a manifest with per-part and whole sha256, and the sha256 pin.

use crate::LoadError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;

/// Magic numbers of the formats a module may be stored in.
const WASM_MAGIC: [u8; 4] = [0x00, 0x61, 0x73, 0x6d];
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Where a module's bytes come from: one value, or ordered parts described by a manifest
/// (a Python or JavaScript component is 4–6 MB compressed, and one ConfigMap holds 1 MiB).
#[derive(Debug, Clone)]
pub enum ModuleBytes {
    /// One value: raw `.wasm`, gzip or zstd.
    Single(Vec<u8>),
    /// A [`PartsManifest`] (JSON) and the parts it names, keyed by part name.
    Parts {
        manifest: Vec<u8>,
        parts: std::collections::BTreeMap<String, Vec<u8>>,
    },
}

/// The manifest of a module split across ConfigMaps: the parts in order, each with its
/// sha256, and the sha256 of their concatenation (still compressed, if it was).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartsManifest {
    pub parts: Vec<PartRef>,
    pub sha256: String,
}

/// One part of a split module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartRef {
    /// The key the part is stored under (a `binaryData` key).
    pub name: String,
    pub sha256: String,
}

impl PartsManifest {
    /// Splits `data` into parts of at most `part_size` bytes named `<prefix>.<n>`; used by
    /// tooling that writes the ConfigMaps, and by tests.
    pub fn split(
        prefix: &str,
        data: &[u8],
        part_size: usize,
    ) -> (PartsManifest, Vec<(String, Vec<u8>)>) {
        let size = part_size.max(1);
        let parts: Vec<(String, Vec<u8>)> = data
            .chunks(size)
            .enumerate()
            .map(|(i, c)| (format!("{prefix}.{i}"), c.to_vec()))
            .collect();
        let manifest = PartsManifest {
            parts: parts
                .iter()
                .map(|(name, bytes)| PartRef {
                    name: name.clone(),
                    sha256: sha256_hex(bytes),
                })
                .collect(),
            sha256: sha256_hex(data),
        };
        (manifest, parts)
    }
}

/// Lowercase hex sha256, the form used in pins, manifests and cache keys.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// zstd-compresses a component the way the ConfigMap tooling stores it (level 19).
pub fn compress_zstd(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    zstd::encode_all(raw, 19)
}

/// Decodes `bytes` into the raw component: assembles parts, decompresses (never past
/// `cap` bytes), and checks the optional sha256 `pin` of the result. Returns the bytes and
/// their sha256.
pub fn decode(
    module: &str,
    bytes: &ModuleBytes,
    pin: Option<&str>,
    cap: u64,
) -> Result<(Vec<u8>, String), LoadError> {
    if let Some(p) = pin
        && (p.len() != 64
            || !p
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    {
        return Err(LoadError::BadPin {
            module: module.into(),
            pin: p.into(),
        });
    }
    let assembled;
    let stored: &[u8] = match bytes {
        ModuleBytes::Single(b) => b,
        ModuleBytes::Parts { manifest, parts } => {
            assembled = assemble(module, manifest, parts, cap)?;
            &assembled
        }
    };
    let raw = decompress(module, stored, cap)?;
    let digest = sha256_hex(&raw);
    if let Some(expected) = pin
        && expected != digest
    {
        return Err(LoadError::DigestMismatch {
            module: module.into(),
            expected: expected.into(),
            actual: digest,
        });
    }
    Ok((raw, digest))
}

fn assemble(
    module: &str,
    manifest: &[u8],
    parts: &std::collections::BTreeMap<String, Vec<u8>>,
    cap: u64,
) -> Result<Vec<u8>, LoadError> {
    let m: PartsManifest = serde_json::from_slice(manifest).map_err(|e| LoadError::Manifest {
        module: module.into(),
        reason: format!(
            "{e}; expected {{\"parts\":[{{\"name\":..,\"sha256\":..}}],\"sha256\":..}}"
        ),
    })?;
    if m.parts.is_empty() {
        return Err(LoadError::Manifest {
            module: module.into(),
            reason: "`parts` is empty".into(),
        });
    }
    let mut out = Vec::new();
    for p in &m.parts {
        let data = parts.get(&p.name).ok_or_else(|| LoadError::PartMissing {
            module: module.into(),
            part: p.name.clone(),
        })?;
        let actual = sha256_hex(data);
        if actual != p.sha256 {
            return Err(LoadError::PartDigest {
                module: module.into(),
                part: p.name.clone(),
                expected: p.sha256.clone(),
                actual,
            });
        }
        if (out.len() + data.len()) as u64 > cap {
            return Err(LoadError::TooLarge {
                module: module.into(),
                what: "the assembled parts",
                size: (out.len() + data.len()) as u64,
                cap,
            });
        }
        out.extend_from_slice(data);
    }
    let whole = sha256_hex(&out);
    if whole != m.sha256 {
        return Err(LoadError::WholeDigest {
            module: module.into(),
            expected: m.sha256,
            actual: whole,
        });
    }
    Ok(out)
}

fn decompress(module: &str, data: &[u8], cap: u64) -> Result<Vec<u8>, LoadError> {
    let (format, reader): (&'static str, Box<dyn Read + '_>) = if data.starts_with(&WASM_MAGIC) {
        if data.len() as u64 > cap {
            return Err(LoadError::TooLarge {
                module: module.into(),
                what: "the module",
                size: data.len() as u64,
                cap,
            });
        }
        return Ok(data.to_vec());
    } else if data.starts_with(&GZIP_MAGIC) {
        ("gzip", Box::new(flate2::read::GzDecoder::new(data)))
    } else if data.starts_with(&ZSTD_MAGIC) {
        let d = zstd::stream::read::Decoder::new(data).map_err(|e| LoadError::Decompress {
            module: module.into(),
            format: "zstd",
            reason: e.to_string(),
        })?;
        ("zstd", Box::new(d))
    } else {
        let magic = hex::encode(&data[..data.len().min(4)]);
        return Err(LoadError::UnknownFormat {
            module: module.into(),
            magic,
        });
    };
    let mut out = Vec::new();
    reader
        .take(cap + 1)
        .read_to_end(&mut out)
        .map_err(|e| LoadError::Decompress {
            module: module.into(),
            format,
            reason: e.to_string(),
        })?;
    if out.len() as u64 > cap {
        return Err(LoadError::TooLarge {
            module: module.into(),
            what: "the decompressed module",
            size: out.len() as u64,
            cap,
        });
    }
    if !out.starts_with(&WASM_MAGIC) {
        return Err(LoadError::Decompress {
            module: module.into(),
            format,
            reason: "the decompressed data is not a Wasm binary".into(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn fake_wasm(len: usize) -> Vec<u8> {
        let mut v = WASM_MAGIC.to_vec();
        v.extend([0x0d, 0x00, 0x01, 0x00]);
        v.resize(len, 0);
        v
    }

    #[test]
    fn gzip_and_zstd_round_trip_and_pin() {
        let raw = fake_wasm(10_000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&raw).unwrap();
        let gz = gz.finish().unwrap();
        let zs = zstd::encode_all(&raw[..], 3).unwrap();
        let pin = sha256_hex(&raw);
        for stored in [raw.clone(), gz, zs] {
            let (out, digest) =
                decode("m", &ModuleBytes::Single(stored), Some(&pin), 1 << 20).unwrap();
            assert_eq!(out, raw);
            assert_eq!(digest, pin);
        }
    }

    #[test]
    fn decompression_bomb_is_capped() {
        let raw = fake_wasm(8 << 20);
        let zs = zstd::encode_all(&raw[..], 3).unwrap();
        assert!(zs.len() < 4096, "test data should compress well");
        let err = decode("bomb", &ModuleBytes::Single(zs), None, 1 << 20).unwrap_err();
        assert!(matches!(err, LoadError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("maxModuleBytes"), "{err}");
    }

    #[test]
    fn wrong_pin_and_bad_pin_and_garbage() {
        let raw = fake_wasm(100);
        let err = decode(
            "m",
            &ModuleBytes::Single(raw.clone()),
            Some(&"0".repeat(64)),
            1 << 20,
        )
        .unwrap_err();
        assert!(matches!(err, LoadError::DigestMismatch { .. }), "{err}");
        let err = decode("m", &ModuleBytes::Single(raw), Some("abc"), 1 << 20).unwrap_err();
        assert!(matches!(err, LoadError::BadPin { .. }), "{err}");
        let err = decode("m", &ModuleBytes::Single(b"hello".to_vec()), None, 1 << 20).unwrap_err();
        assert!(matches!(err, LoadError::UnknownFormat { .. }), "{err}");
    }

    #[test]
    fn parts_assemble_and_detect_tampering() {
        let raw = fake_wasm(5000);
        let zs = zstd::encode_all(&raw[..], 3).unwrap();
        let stored = [zs.clone(), raw.clone()];
        for s in stored {
            let (manifest, parts) = PartsManifest::split("mod", &s, 7);
            let json = serde_json::to_vec(&manifest).unwrap();
            let map: std::collections::BTreeMap<_, _> = parts.into_iter().collect();
            let (out, _) = decode(
                "m",
                &ModuleBytes::Parts {
                    manifest: json.clone(),
                    parts: map.clone(),
                },
                None,
                1 << 20,
            )
            .unwrap();
            assert_eq!(out, raw);
            let mut missing = map.clone();
            missing.remove("mod.1");
            let err = decode(
                "m",
                &ModuleBytes::Parts {
                    manifest: json.clone(),
                    parts: missing,
                },
                None,
                1 << 20,
            )
            .unwrap_err();
            assert!(matches!(err, LoadError::PartMissing { .. }), "{err}");
            let mut bad = map.clone();
            bad.get_mut("mod.0").unwrap()[0] ^= 1;
            let err = decode(
                "m",
                &ModuleBytes::Parts {
                    manifest: json.clone(),
                    parts: bad,
                },
                None,
                1 << 20,
            )
            .unwrap_err();
            assert!(matches!(err, LoadError::PartDigest { .. }), "{err}");
            let mut m2 = manifest.clone();
            m2.sha256 = "0".repeat(64);
            let err = decode(
                "m",
                &ModuleBytes::Parts {
                    manifest: serde_json::to_vec(&m2).unwrap(),
                    parts: map,
                },
                None,
                1 << 20,
            )
            .unwrap_err();
            assert!(matches!(err, LoadError::WholeDigest { .. }), "{err}");
        }
        let err = decode(
            "m",
            &ModuleBytes::Parts {
                manifest: b"{".to_vec(),
                parts: Default::default(),
            },
            None,
            1,
        )
        .unwrap_err();
        assert!(matches!(err, LoadError::Manifest { .. }), "{err}");
    }
}
