//! A checksum on every stored document value (snapshots and chunks), verified on every read, so
//! that bit rot in a value is found and named instead of loaded as a different document. sled's
//! own checksums cover its log records as written, not what a page holds after it is read back.
//!
//! A value is `TAG`, the CRC-32 of the payload (little endian), then the payload: the Automerge
//! bytes as before. A value written before checksums (store format 1) starts with Automerge's
//! magic instead; such values are sealed when the store is opened (`Store::open` migrates).

/// The first byte of a sealed value. Automerge's bytes start with 0x85, so an unsealed value is
/// never taken for a sealed one.
pub const TAG: u8 = 0x01;

/// Tag and checksum.
pub const HEADER: usize = 5;

/// The first bytes of every Automerge chunk (and so of every value written before checksums).
const AUTOMERGE_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// The value to store for `payload`.
pub fn seal(payload: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(HEADER + payload.len());
    value.push(TAG);
    value.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    value.extend_from_slice(payload);
    value
}

/// The payload of a stored value, or why it cannot be trusted.
pub fn open(value: &[u8]) -> Result<&[u8], String> {
    if value.first() != Some(&TAG) || value.len() < HEADER {
        return Err(if value.starts_with(&AUTOMERGE_MAGIC) {
            "the value has no checksum".to_string()
        } else {
            format!(
                "the value does not start as a stored value ({} bytes)",
                value.len()
            )
        });
    }
    let stored = u32::from_le_bytes(value[1..HEADER].try_into().expect("4 bytes"));
    let payload = &value[HEADER..];
    let actual = crc32fast::hash(payload);
    if stored == actual {
        Ok(payload)
    } else {
        Err(format!(
            "checksum mismatch ({} bytes: stored {stored:08x}, computed {actual:08x})",
            value.len()
        ))
    }
}

/// Whether a value was written before checksums (store format 1): Automerge's bytes as they are.
pub fn is_unsealed(value: &[u8]) -> bool {
    value.starts_with(&AUTOMERGE_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_to_its_payload() {
        let payload = b"\x85\x6f\x4a\x83 some automerge bytes".to_vec();
        let sealed = seal(&payload);
        assert_eq!(sealed.len(), payload.len() + HEADER);
        assert_eq!(open(&sealed).unwrap(), &payload[..]);
        assert!(!is_unsealed(&sealed));
        assert!(is_unsealed(&payload));
        assert_eq!(open(&seal(b"")).unwrap(), b"");
    }

    #[test]
    fn any_flipped_bit_is_found() {
        let payload: Vec<u8> = (0..2000u32).map(|i| (i * 7 % 251) as u8).collect();
        let sealed = seal(&payload);
        for at in [0, 1, 4, 5, 6, 1000, sealed.len() - 1] {
            for bit in [0, 3, 7] {
                let mut damaged = sealed.clone();
                damaged[at] ^= 1 << bit;
                assert!(
                    open(&damaged).is_err(),
                    "byte {at} bit {bit} went unnoticed"
                );
            }
        }
        let cut = &sealed[..sealed.len() - 1];
        assert!(open(cut).unwrap_err().contains("checksum mismatch"));
        assert!(open(&sealed[..3]).is_err());
        assert!(open(&payload).is_err());
        assert!(open(&[&AUTOMERGE_MAGIC[..], &payload].concat())
            .unwrap_err()
            .contains("no checksum"));
    }
}
