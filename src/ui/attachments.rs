//! Photos (return and complaint attachments) for a signed-in session. The store keeps bytes
//! only, so the type is read from the bytes: JPEG, PNG, GIF and WebP are shown in place, anything
//! else is a download, never rendered by the browser as a page of this node.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::session::SignedIn;
use super::PageError;
use crate::http::{read, AppState};

/// Photos one complaint form may carry, and the size of each.
pub const MAX_PHOTOS: usize = 6;
pub const MAX_PHOTO_BYTES: usize = crate::http::ATTACHMENT_LIMIT;

/// The image type of `bytes`, from their first bytes; None when they are no image we show.
pub fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Whether `hash` looks like an attachment's name (a SHA-256 in hex).
pub fn is_hash(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

pub async fn serve(
    State(state): State<AppState>,
    _signed: SignedIn,
    Path(hash): Path<String>,
) -> Result<Response, PageError> {
    if !is_hash(&hash) {
        return Err(PageError::NotFound("这张照片".into()));
    }
    let bytes = read(&state, move |o| o.attachment(&hash)).await?;
    // Content-addressed: the same name always holds the same bytes.
    let cache = (
        header::CACHE_CONTROL,
        "private, max-age=31536000, immutable",
    );
    Ok(match image_type(&bytes) {
        Some(image) => ([(header::CONTENT_TYPE, image), cache], bytes).into_response(),
        None => (
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (header::CONTENT_DISPOSITION, "attachment"),
                cache,
            ],
            bytes,
        )
            .into_response(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_told_from_their_first_bytes() {
        assert_eq!(image_type(b"\xFF\xD8\xFF\xE0 jfif"), Some("image/jpeg"));
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(image_type(b"GIF89a..."), Some("image/gif"));
        assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(image_type(b"<html><script>"), None);
        assert_eq!(image_type(b""), None);
        assert!(is_hash(&"ab".repeat(32)));
        assert!(!is_hash("../etc/passwd"));
        assert!(!is_hash(&"zz".repeat(32)));
    }
}
