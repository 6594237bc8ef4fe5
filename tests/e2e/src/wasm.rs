//! Makes a changed copy of a Wasm component without changing what it does: a custom
//! section appended at the end changes its bytes (and sha256) only. Used to check that
//! a changed ConfigMap is picked up.

use anyhow::{Result, bail};

/// `bytes` with a custom section `name` holding `payload` appended.
pub fn with_custom_section(bytes: &[u8], name: &str, payload: &[u8]) -> Result<Vec<u8>> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        bail!("not a Wasm binary (no \\0asm header)");
    }
    let mut content = Vec::new();
    leb128(name.len() as u64, &mut content);
    content.extend_from_slice(name.as_bytes());
    content.extend_from_slice(payload);
    let mut out = bytes.to_vec();
    out.push(0); // custom section id
    leb128(content.len() as u64, &mut out);
    out.extend_from_slice(&content);
    Ok(out)
}

fn leb128(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_a_well_formed_custom_section() {
        // A component header (version 0x0d, layer 1) with nothing else.
        let header = [0u8, b'a', b's', b'm', 0x0d, 0x00, 0x01, 0x00];
        let out = with_custom_section(&header, "e2e", &[7u8; 200]).unwrap();
        assert_eq!(&out[..8], &header);
        assert_eq!(out[8], 0);
        // size = 1 (name length) + 3 (name) + 200 = 204 = 0xcc 0x01 in LEB128
        assert_eq!(&out[9..11], &[0xcc, 0x01]);
        assert_eq!(out[11], 3);
        assert_eq!(&out[12..15], b"e2e");
        assert_eq!(out.len(), 15 + 200);
        assert!(with_custom_section(b"not wasm", "x", b"").is_err());
    }
}
