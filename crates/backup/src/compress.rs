//! Stream compression for backups: zstd (ours, fast) or gzip (readable by presslabs'
//! restore), chosen by option when writing and by file suffix when reading.

use async_compression::Level;
use async_compression::tokio::bufread::{GzipDecoder, GzipEncoder, ZstdDecoder, ZstdEncoder};
use std::pin::Pin;
use tokio::io::{AsyncRead, BufReader};

/// How a backup object is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `.xbackup.zst`, the default: several times faster than gzip at a similar ratio.
    Zstd,
    /// `.xbackup.gz`, what presslabs wrote and restores.
    Gzip,
    /// `.xbackup`, uncompressed (mainly for measurements).
    None,
}

impl Compression {
    /// The object name suffix, including the `.xbackup` part.
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::Zstd => ".xbackup.zst",
            Compression::Gzip => ".xbackup.gz",
            Compression::None => ".xbackup",
        }
    }

    /// Guess from an object key: `.gz` → gzip, `.zst` → zstd, anything else raw.
    pub fn from_key(key: &str) -> Compression {
        if key.ends_with(".gz") {
            Compression::Gzip
        } else if key.ends_with(".zst") || key.ends_with(".zstd") {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// Parse an option value (`zstd`, `gzip`/`gz`, `none`).
    pub fn parse(s: &str) -> Option<Compression> {
        match s {
            "zstd" | "zst" => Some(Compression::Zstd),
            "gzip" | "gz" => Some(Compression::Gzip),
            "none" => Some(Compression::None),
            _ => None,
        }
    }
}

/// A boxed async reader, what the pipeline stages pass along.
pub type BoxRead = Pin<Box<dyn AsyncRead + Send>>;

/// Wrap `src` so reading yields the compressed stream. Levels are chosen for throughput:
/// the compressor must keep up with the backup tool on one core.
pub fn compress(src: BoxRead, compression: Compression) -> BoxRead {
    let buffered = BufReader::with_capacity(256 * 1024, src);
    match compression {
        Compression::Zstd => Box::pin(ZstdEncoder::with_quality(buffered, Level::Precise(1))),
        Compression::Gzip => Box::pin(GzipEncoder::with_quality(buffered, Level::Fastest)),
        Compression::None => Box::pin(buffered),
    }
}

/// Wrap `src` so reading yields the decompressed stream; gzip accepts multi-member files.
pub fn decompress(src: BoxRead, compression: Compression) -> BoxRead {
    let buffered = BufReader::with_capacity(256 * 1024, src);
    match compression {
        Compression::Zstd => {
            let mut d = ZstdDecoder::new(buffered);
            d.multiple_members(true);
            Box::pin(d)
        }
        Compression::Gzip => {
            let mut d = GzipDecoder::new(buffered);
            d.multiple_members(true);
            Box::pin(d)
        }
        Compression::None => Box::pin(buffered),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn round_trips_each_format() {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for c in [Compression::Zstd, Compression::Gzip, Compression::None] {
            let mut packed = Vec::new();
            compress(Box::pin(std::io::Cursor::new(data.clone())), c)
                .read_to_end(&mut packed)
                .await
                .unwrap();
            let mut out = Vec::new();
            decompress(Box::pin(std::io::Cursor::new(packed)), c)
                .read_to_end(&mut out)
                .await
                .unwrap();
            assert_eq!(out, data, "{c:?}");
            assert_eq!(Compression::from_key(&format!("x{}", c.suffix())), c);
        }
    }

    #[tokio::test]
    async fn corrupt_input_is_an_error() {
        let mut out = Vec::new();
        let r = decompress(Box::pin(&b"definitely not gzip"[..]), Compression::Gzip)
            .read_to_end(&mut out)
            .await;
        assert!(r.is_err());
    }
}
