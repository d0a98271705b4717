//! The workbench's two assets, compiled into the binary: one stylesheet and one small script of
//! our own. Each is served under a name that carries a digest of its content, so browsers may keep
//! it for a year and a new build is fetched at once.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const STYLESHEET: &str = include_str!("assets/workbench.css");
const SCRIPT: &str = include_str!("assets/workbench.js");

fn digest_name(stem: &str, extension: &str, content: &str) -> String {
    let digest = hex::encode(Sha256::digest(content.as_bytes()));
    format!("/ui/assets/{stem}.{}.{extension}", &digest[..12])
}

static STYLESHEET_PATH: LazyLock<String> =
    LazyLock::new(|| digest_name("workbench", "css", STYLESHEET));
static SCRIPT_PATH: LazyLock<String> = LazyLock::new(|| digest_name("workbench", "js", SCRIPT));

pub fn stylesheet_path() -> &'static str {
    &STYLESHEET_PATH
}

pub fn script_path() -> &'static str {
    &SCRIPT_PATH
}

pub async fn serve(Path(file): Path<String>) -> Response {
    let requested = format!("/ui/assets/{file}");
    let (content_type, body) = if requested == *STYLESHEET_PATH {
        ("text/css; charset=utf-8", STYLESHEET)
    } else if requested == *SCRIPT_PATH {
        ("text/javascript; charset=utf-8", SCRIPT)
    } else {
        return (StatusCode::NOT_FOUND, "没有这个文件").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}
