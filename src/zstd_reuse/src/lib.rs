//! The part of the `zstd` 0.9 API that sled 0.34 calls (`block::compress`, `block::decompress`,
//! `stream::decode_all`), with the zstd contexts reused per thread.
//!
//! Why: the `zstd` 0.9 crate creates a fresh context for every call, and creating one runs the
//! `cpuid` instruction three times (zstd checks for BMI2). On a virtual machine `cpuid` traps to
//! the hypervisor (about 12 µs each on our benchmark machine), and sled compresses every key it
//! writes and decompresses every page fragment it reads, so that check was the largest single
//! cost of a write. A context reused per thread runs it once per thread.
//!
//! The output is the same standard zstd frame (content size in the header), so stores written
//! before and after this change read each other.

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

    /// Compresses `data` into one zstd frame at `level`.
    pub fn compress(data: &[u8], level: i32) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(zstd_safe::compress_bound(data.len()));
        COMPRESSOR.with(|cctx| {
            cctx.borrow_mut()
                .compress(&mut out, data, level)
                .map_err(error)
        })?;
        Ok(out)
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
