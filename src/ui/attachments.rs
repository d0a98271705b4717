//! Photos (return and complaint attachments) for a signed-in session. The store keeps bytes
//! only, so the type is read from the bytes: JPEG, PNG, GIF and WebP are shown in place, anything
//! else is a download, never rendered by the browser as a page of this node.

use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::de::DeserializeOwned;

use super::session::SignedIn;
use super::PageError;
use crate::http::error::ApiError;
use crate::http::{read, write, AppState};
use crate::service::User;

/// Files one form (a complaint's or a return's photos, a contract's scans) may carry, and the
/// size of each.
pub const MAX_PHOTOS: usize = 6;
pub const MAX_PHOTO_BYTES: usize = crate::http::ATTACHMENT_LIMIT;

/// The body limit of a route whose form carries files: `MAX_PHOTOS` of `MAX_PHOTO_BYTES` and
/// the form's text.
pub fn files_form_limit() -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(MAX_PHOTOS * MAX_PHOTO_BYTES + 64 * 1024)
}

/// Which files a form takes: photos (`photo` inputs: images only) or documents (`file`
/// inputs: images and PDF, a contract's scans).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    Photos,
    Documents,
}

impl Files {
    fn input(self) -> &'static str {
        match self {
            Files::Photos => "photo",
            Files::Documents => "file",
        }
    }

    /// Why `bytes` are refused, in Chinese; None when they are taken.
    fn refusal(self, bytes: &[u8]) -> Option<&'static str> {
        match self {
            Files::Photos if image_type(bytes).is_none() => {
                Some("只能上传照片（JPEG、PNG、GIF 或 WebP）")
            }
            Files::Documents if image_type(bytes).is_none() && !bytes.starts_with(b"%PDF-") => {
                Some("只能上传 PDF 或图片（JPEG、PNG、GIF、WebP）")
            }
            _ => None,
        }
    }
}

/// A form's text fields as `T` and the bytes of its `photo` inputs (see `read_form_with_files`).
pub async fn read_form_with_photos<T: DeserializeOwned>(
    state: &AppState,
    request: Request,
) -> Result<(T, Vec<Vec<u8>>), String> {
    read_form_with_files(state, request, Files::Photos).await
}

/// A form's text fields as `T` and the bytes of its file inputs. A browser sends a form with a
/// file input as multipart (照片 from a phone's camera, or files chosen on a PC), one without
/// as a plain form; both are read here. Every file is checked to be of the kind `files` takes,
/// of at most `MAX_PHOTO_BYTES`, at most `MAX_PHOTOS` of them; a refusal is said in Chinese.
pub async fn read_form_with_files<T: DeserializeOwned>(
    state: &AppState,
    request: Request,
    files: Files,
) -> Result<(T, Vec<Vec<u8>>), String> {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("multipart/form-data"));
    if !multipart {
        let Form(form) = Form::<T>::from_request(request, state)
            .await
            .map_err(|e| format!("表单无法读取：{e}"))?;
        return Ok((form, Vec::new()));
    }
    let mut parts = Multipart::from_request(request, state)
        .await
        .map_err(|e| format!("表单无法读取：{e}"))?;
    let mut fields = serde_json::Map::new();
    let mut taken = Vec::new();
    while let Some(field) = parts
        .next_field()
        .await
        .map_err(|e| format!("表单无法读取（文件太大？每个最多 8 MB）：{e}"))?
    {
        let name = field.name().unwrap_or_default().to_string();
        if name == files.input() {
            let bytes = field
                .bytes()
                .await
                .map_err(|e| format!("文件无法读取（每个最多 8 MB）：{e}"))?;
            if bytes.is_empty() {
                continue; // the file input left empty
            }
            if bytes.len() > MAX_PHOTO_BYTES {
                return Err("文件太大：每个最多 8 MB".into());
            }
            if let Some(why) = files.refusal(&bytes) {
                return Err(why.into());
            }
            taken.push(bytes.to_vec());
            if taken.len() > MAX_PHOTOS {
                return Err(format!("一次最多上传 {MAX_PHOTOS} 个文件"));
            }
        } else {
            let text = field
                .text()
                .await
                .map_err(|e| format!("表单无法读取：{e}"))?;
            fields.insert(name, serde_json::Value::String(text));
        }
    }
    let form = serde_json::from_value(serde_json::Value::Object(fields))
        .map_err(|e| format!("表单无法读取：{e}"))?;
    Ok((form, taken))
}

/// Stores `files` (content-addressed: the same file is one attachment) and adds their names
/// to `kept`, the names an earlier try of the form stored, without repeating one.
pub async fn store_files(
    state: &AppState,
    user: &User,
    files: Vec<Vec<u8>>,
    kept: &mut Vec<String>,
) -> Result<(), ApiError> {
    for bytes in files {
        let user = user.clone();
        let hash = write(state, move |o| o.put_attachment(&user, &bytes)).await?;
        if !kept.contains(&hash) {
            kept.push(hash);
        }
    }
    Ok(())
}

/// The attachment names a form carries back from an earlier try (comma-separated).
pub fn kept_names(names: &str) -> Vec<String> {
    names
        .split(',')
        .map(str::trim)
        .filter(|h| is_hash(h))
        .map(str::to_string)
        .collect()
}

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
