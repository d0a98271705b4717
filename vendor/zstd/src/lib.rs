//! The part of the `zstd` 0.9 API that sled 0.34 calls (`block::compress`, `block::decompress`,
//! `stream::decode_all`), with the zstd contexts reused per thread.
//!
//! Why: the `zstd` 0.9 crate creates a fresh context for every call, and creating one runs the
//! `cpuid` instruction three times (zstd checks for BMI2). On a virtual machine `cpuid` traps to
//! the hypervisor (about 12 µs each on our benchmark machine), and sled compresses every key it
//! writes and decompresses every page fragment it reads, so that check was the largest single
//! cost of a write. A context reused per thread runs it once per thread.
//!
//! It also chooses how hard to compress by size, since sled compresses every fragment alike:
//! a single key's fragment (under 128 bytes: index and feed entries) is stored in a raw block,
//! one under 4 KB at a fast level, and a rewritten tree node at the level sled asks for
//! (see `block::compress`).
//!
//! The output is always a standard zstd frame (content size in the header), so stores written
//! before and after these changes read each other.

use std::cell::RefCell;
use std::io;

use zstd_safe::{CCtx, DCtx};

thread_local! {
    static COMPRESSOR: RefCell<CCtx<'static>> = RefCell::new(CCtx::create());
    static DECOMPRESSOR: RefCell<DCtx<'static>> = RefCell::new(DCtx::create());
}

fn error(code: usize) -> io::Error {
    io::Error::other(zstd_safe::get_error_name(code))
}

/// Whole-buffer compression, as `zstd::block` had it (renamed `bulk` in later versions).
pub mod block {
    use super::*;

    /// Below this size a fragment is stored, not compressed: sled writes one such fragment per
    /// key inserted (an index entry, a feed entry), and zstd made them larger, not smaller
    /// (measured on a synced store: 3.3 MB of them in, 3.7 MB out), at a cost per call.
    const STORE_UNDER: usize = 128;
    /// Below this size (one key's insert, not a whole tree node) the fastest levels are used:
    /// such fragments are garbage once sled rewrites their node, and the node rewrite, which
    /// is what stays on disk, keeps the level sled asks for. On a synced store this cut
    /// the CPU time of writing it by a quarter, for 15% more disk before segments are cleaned.
    const FAST_UNDER: usize = 4096;
    const FAST_LEVEL: i32 = -3;

    /// Compresses `data` into one zstd frame at `level` (see `STORE_UNDER`, `FAST_UNDER`).
    pub fn compress(data: &[u8], level: i32) -> io::Result<Vec<u8>> {
        if data.len() < STORE_UNDER {
            return Ok(stored_frame(data));
        }
        let level = if data.len() < FAST_UNDER {
            level.min(FAST_LEVEL)
        } else {
            level
        };
        let mut out = Vec::with_capacity(zstd_safe::compress_bound(data.len()));
        COMPRESSOR.with(|cctx| {
            cctx.borrow_mut()
                .compress(&mut out, data, level)
                .map_err(error)
        })?;
        Ok(out)
    }

    /// A zstd frame holding `data` (under 256 bytes) as one raw block (RFC 8878, 3.1.1): the
    /// magic number, a descriptor saying "single segment, content size in one byte", the
    /// size, then a last-block header of type raw and the bytes themselves.
    fn stored_frame(data: &[u8]) -> Vec<u8> {
        const MAGIC: u32 = 0xFD2F_B528;
        const SINGLE_SEGMENT: u8 = 1 << 5;
        let len = u8::try_from(data.len()).expect("stored frames are under 256 bytes");
        let block_header = 1 | (u32::from(len) << 3); // last block, type 0 (raw), size
        let mut out = Vec::with_capacity(data.len() + 9);
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&[SINGLE_SEGMENT, len]);
        out.extend_from_slice(&block_header.to_le_bytes()[..3]);
        out.extend_from_slice(data);
        out
    }

    /// Decompresses one frame of at most `capacity` bytes.
    pub fn decompress(data: &[u8], capacity: usize) -> io::Result<Vec<u8>> {
        let capacity = match zstd_safe::get_frame_content_size(data) {
            size if size <= capacity as u64 => size as usize,
            // Unknown or error: let the decompressor find out within `capacity`.
            _ => capacity,
        };
        let mut out = Vec::with_capacity(capacity);
        DECOMPRESSOR.with(|dctx| dctx.borrow_mut().decompress(&mut out, data).map_err(error))?;
        Ok(out)
    }
}

/// Stream decompression, as sled uses it: a whole buffer of frames to one `Vec`.
pub mod stream {
    use super::*;
    use zstd_safe::{InBuffer, OutBuffer};

    /// Decompresses every frame read from `source`, one after another.
    pub fn decode_all<R: io::Read>(mut source: R) -> io::Result<Vec<u8>> {
        let mut input = Vec::new();
        source.read_to_end(&mut input)?;
        let hint = match zstd_safe::get_frame_content_size(&input) {
            size if size < (1 << 30) => size as usize,
            _ => input.len().saturating_mul(4),
        };
        let mut out: Vec<u8> = Vec::with_capacity(hint.max(64));
        DECOMPRESSOR.with(|dctx| {
            let mut dctx = dctx.borrow_mut();
            dctx.reset().map_err(error)?;
            let mut input = InBuffer::around(&input);
            let mut frame_done = true;
            while input.pos() < input.src.len() || !frame_done {
                if out.len() == out.capacity() {
                    out.reserve(out.capacity().max(64 * 1024));
                }
                let before = (input.pos(), out.len());
                let pos = out.len();
                let mut output = OutBuffer::around_pos(&mut out, pos);
                let remaining = dctx
                    .decompress_stream(&mut output, &mut input)
                    .map_err(error)?;
                frame_done = remaining == 0;
                let stuck = (input.pos(), out.len()) == before && out.len() < out.capacity();
                if stuck {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "incomplete zstd frame",
                    ));
                }
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i % 251) as u8 ^ (i / 1000) as u8)
            .collect()
    }

    #[test]
    fn compress_then_both_decompressors_give_the_input_back() {
        for len in [0, 1, 100, 70_000, 1_000_000] {
            let data = sample(len);
            let frame = block::compress(&data, 3).unwrap();
            assert_eq!(block::decompress(&frame, len).unwrap(), data);
            assert_eq!(stream::decode_all(&frame[..]).unwrap(), data);
        }
    }

    #[test]
    fn stored_and_fast_frames_are_standard_frames() {
        // Below, at and above each threshold, and the largest stored size.
        for len in [0, 1, 127, 128, 255, 4095, 4096] {
            let data = sample(len);
            let frame = block::compress(&data, 3).unwrap();
            assert_eq!(zstd_safe::get_frame_content_size(&frame), len as u64);
            assert_eq!(block::decompress(&frame, len).unwrap(), data, "{len}");
            assert_eq!(stream::decode_all(&frame[..]).unwrap(), data, "{len}");
            let mut plain = Vec::with_capacity(len);
            zstd_safe::decompress(&mut plain, &frame).unwrap();
            assert_eq!(plain, data, "the C library reads it too ({len})");
        }
        assert_eq!(block::compress(&sample(100), 3).unwrap().len(), 109);
    }

    #[test]
    fn decode_all_reads_concatenated_frames() {
        let (a, b) = (sample(5000), sample(300));
        let mut frames = block::compress(&a, 3).unwrap();
        frames.extend(block::compress(&b, 1).unwrap());
        assert_eq!(stream::decode_all(&frames[..]).unwrap(), [a, b].concat());
    }

    #[test]
    fn a_truncated_or_foreign_frame_is_an_error_not_a_panic() {
        let frame = block::compress(&sample(10_000), 3).unwrap();
        assert!(stream::decode_all(&frame[..frame.len() - 3]).is_err());
        assert!(block::decompress(&frame[..frame.len() - 3], 10_000).is_err());
        assert!(stream::decode_all(&b"not zstd at all"[..]).is_err());
        assert!(block::decompress(&frame, 10).is_err());
    }
}
