//! Export every document (and attachment) to one file, and restore from it. Restoring merges:
//! a restored document joins whatever the node already has, so nothing recorded is lost.
//!
//! Format: JSON lines. The first line names the format; then one line per document
//! `{"doc": id, "data": base64(Automerge save)}` and per attachment `{"attachment": hash, ...}`.

use base64::Engine;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};

use crate::service::BackOffice;
use crate::store::keys;

const FORMAT: &str = "neiqin-backup";
const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Entry {
    Header {
        format: String,
        version: u32,
        node: String,
    },
    Doc {
        doc: String,
        data: String,
    },
    Attachment {
        attachment: String,
        data: String,
    },
}

pub struct Counts {
    pub documents: usize,
    pub attachments: usize,
}

pub fn export(office: &BackOffice, out: &mut (impl Write + ?Sized)) -> Result<Counts, BackupError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut write = |entry: &Entry| -> Result<(), BackupError> {
        serde_json::to_writer(&mut *out, entry).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        Ok(())
    };
    write(&Entry::Header {
        format: FORMAT.into(),
        version: VERSION,
        node: office.identity.node_id.clone(),
    })?;
    let mut counts = Counts {
        documents: 0,
        attachments: 0,
    };
    for id in office.store.doc_ids(None)? {
        if let Some(bytes) = office.store.save(&id)? {
            write(&Entry::Doc {
                doc: id,
                data: b64.encode(bytes),
            })?;
            counts.documents += 1;
        }
    }
    for (key, value) in office.store.scan_raw(b"a/")? {
        let hash = String::from_utf8_lossy(&key[2..]).to_string();
        write(&Entry::Attachment {
            attachment: hash,
            data: b64.encode(value),
        })?;
        counts.attachments += 1;
    }
    Ok(counts)
}

/// Restores a backup. Every line is checked before anything is written, so a damaged file
/// changes nothing.
pub fn restore(office: &BackOffice, input: impl BufRead) -> Result<Counts, BackupError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut docs = Vec::new();
    let mut attachments = Vec::new();
    let mut seen_header = false;
    for (i, line) in input.lines().enumerate() {
        let line_no = i + 1;
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| BackupError::Line {
            line: line_no,
            message,
        };
        let entry: Entry = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        if !seen_header && !matches!(entry, Entry::Header { .. }) {
            return Err(bad(format!(
                "the file does not start with a {FORMAT} header"
            )));
        }
        match entry {
            Entry::Header {
                format, version, ..
            } => {
                if format != FORMAT || version != VERSION {
                    return Err(bad(format!("not a {FORMAT} v{VERSION} file")));
                }
                seen_header = true;
            }
            Entry::Doc { doc, data } => {
                let bytes = b64.decode(data).map_err(|e| bad(e.to_string()))?;
                automerge::AutoCommit::load(&bytes)
                    .map_err(|e| bad(format!("document {doc}: {e}")))?;
                docs.push((doc, bytes));
            }
            Entry::Attachment { attachment, data } => {
                let bytes = b64.decode(data).map_err(|e| bad(e.to_string()))?;
                if crate::service::attachments::content_hash(&bytes) != attachment {
                    return Err(bad(format!(
                        "attachment {attachment} does not match its hash"
                    )));
                }
                attachments.push((attachment, bytes));
            }
        }
    }
    if !seen_header {
        return Err(BackupError::Line {
            line: 1,
            message: "empty file".into(),
        });
    }
    for (doc, bytes) in &docs {
        match office.store.merge(doc, bytes) {
            // This node's copy is damaged on disk: the backup's copy replaces it whole.
            Err(crate::store::StoreError::Damaged { .. }) => {
                let replaced = office
                    .store
                    .replace_damaged(&[(doc.clone(), bytes.clone())])
                    .pop()
                    .expect("one result per document");
                replaced?;
            }
            merged => {
                merged?;
            }
        }
    }
    for (hash, bytes) in &attachments {
        office.store.put_raw(&keys::attachment(hash), bytes)?;
    }
    office.store.flush()?;
    Ok(Counts {
        documents: docs.len(),
        attachments: attachments.len(),
    })
}

/// The first bytes of a passphrase-encrypted backup (the age format).
const AGE_MAGIC: &[u8] = b"age-encryption.org/v1";

#[derive(Debug, thiserror::Error)]
pub enum BackupFileError {
    #[error(
        "{0} is encrypted: give its passphrase (NEIQIN_BACKUP_PASSPHRASE or --passphrase-file)"
    )]
    NeedsPassphrase(String),
    #[error("{0} could not be decrypted: wrong passphrase, or the file is damaged")]
    Decrypt(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Writes a backup file: created readable by its owner only (it holds customers' personal
/// data), written under a temporary name and renamed only once complete and on disk, and
/// encrypted with `passphrase` when one is given. `fill` writes the export into it.
pub fn write_file<T>(
    path: &std::path::Path,
    passphrase: Option<&str>,
    fill: impl FnOnce(&mut dyn Write) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    use anyhow::Context;
    let tmp = path.with_extension("partial");
    let file = create_private(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let result = match passphrase {
        None => fill(&mut out)?,
        Some(pass) => {
            let encryptor = age::Encryptor::with_user_passphrase(age::secrecy::SecretString::from(
                pass.to_string(),
            ));
            let mut sealed = encryptor
                .wrap_output(&mut out)
                .context("cannot start the encrypted backup")?;
            let result = fill(&mut sealed)?;
            sealed
                .finish()
                .context("cannot finish the encrypted backup")?;
            result
        }
    };
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    // Renamed only when complete, so a half-written backup never has the final name.
    std::fs::rename(&tmp, path)?;
    Ok(result)
}

/// Creates a file readable and writable by its owner only (0600 on Unix).
pub fn create_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Opens a backup file for `restore`, decrypting it with `passphrase` when it is encrypted.
pub fn open_file(
    path: &std::path::Path,
    passphrase: Option<&str>,
) -> Result<Box<dyn BufRead>, BackupFileError> {
    let name = path.display().to_string();
    let io = |source| BackupFileError::Io {
        path: name.clone(),
        source,
    };
    let mut input = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
    let encrypted = input.fill_buf().map_err(io)?.starts_with(AGE_MAGIC);
    if !encrypted {
        return Ok(Box::new(input));
    }
    let Some(pass) = passphrase else {
        return Err(BackupFileError::NeedsPassphrase(name));
    };
    let decryptor =
        age::Decryptor::new_buffered(input).map_err(|_| BackupFileError::Decrypt(name.clone()))?;
    let identity = age::scrypt::Identity::new(age::secrecy::SecretString::from(pass.to_string()));
    let reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|_| BackupFileError::Decrypt(name))?;
    Ok(Box::new(std::io::BufReader::new(reader)))
}
