//! The key layout of the one sled tree. One tree, so that a document, its feed entry and its
//! index entries are written by one atomic batch.
//!
//! | prefix | key                              | value                                   |
//! |--------|----------------------------------|-----------------------------------------|
//! | `m/`   | meta name                        | node identity, counters, `format`       |
//! | `d/`   | doc id                           | the last compacted snapshot (sealed)    |
//! | `c/`   | doc id `/` seq (u64 BE)          | one incremental chunk of changes (sealed) |
//! | `x/`   | doc id                           | `DocMeta`: kind, heads, index keys, summary (sealed) |
//! | `f/`   | seq (u64 BE)                     | doc id `\0` heads: the change feed, one entry per doc |
//! | `i/`   | index `\0` value `\0` doc id     | empty                                   |
//! | `u/`   | token hash                       | user                                    |
//! | `p/`   | peer node id                     | sync cursor into that peer's feed       |
//! | `a/`   | content hash                     | attachment bytes                        |
//!
//! Sealed: a tag and a CRC-32 before the Automerge bytes (`checksum`), since store format 2
//! (`m/format`, `FORMAT_VERSION`); before the postcard bytes of `DocMeta` since format 3.

pub fn meta(name: &str) -> Vec<u8> {
    [b"m/", name.as_bytes()].concat()
}

pub fn snapshot(doc: &str) -> Vec<u8> {
    [b"d/", doc.as_bytes()].concat()
}

pub fn chunk_prefix(doc: &str) -> Vec<u8> {
    [b"c/", doc.as_bytes(), b"/"].concat()
}

pub fn chunk(doc: &str, seq: u64) -> Vec<u8> {
    [chunk_prefix(doc).as_slice(), &seq.to_be_bytes()].concat()
}

pub fn doc_meta(doc: &str) -> Vec<u8> {
    [b"x/", doc.as_bytes()].concat()
}

pub const DOC_META_PREFIX: &[u8] = b"x/";
pub const FEED_PREFIX: &[u8] = b"f/";

pub fn feed(seq: u64) -> Vec<u8> {
    [FEED_PREFIX, &seq.to_be_bytes()].concat()
}

pub fn feed_seq(key: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = key.get(FEED_PREFIX.len()..)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// A feed entry's value: the document and its heads after the change, so a pull is answered
/// from the feed alone instead of one metadata read per document.
pub fn feed_value(doc: &str, heads: &[[u8; 32]]) -> Vec<u8> {
    let mut value = Vec::with_capacity(doc.len() + 1 + heads.len() * 32);
    value.extend_from_slice(doc.as_bytes());
    value.push(0);
    for head in heads {
        value.extend_from_slice(head);
    }
    value
}

/// The document and heads of a feed entry; heads are None in entries written before they
/// were kept there (the value was the doc id alone).
pub fn parse_feed_value(value: &[u8]) -> (String, Option<super::Heads>) {
    let Some(nul) = value.iter().position(|b| *b == 0) else {
        return (String::from_utf8_lossy(value).into_owned(), None);
    };
    let doc = String::from_utf8_lossy(&value[..nul]).into_owned();
    let heads = &value[nul + 1..];
    if !heads.len().is_multiple_of(32) {
        return (doc, None);
    }
    let heads = heads
        .chunks_exact(32)
        .map(|h| h.try_into().expect("chunks of 32"))
        .collect();
    (doc, Some(heads))
}

pub const INDEX_PREFIX: &[u8] = b"i/";

pub fn index_prefix(index: &str) -> Vec<u8> {
    [b"i/", index.as_bytes(), b"\0"].concat()
}

pub fn index_entry(index: &str, value: &str, doc: &str) -> Vec<u8> {
    [
        index_prefix(index).as_slice(),
        value.as_bytes(),
        b"\0",
        doc.as_bytes(),
    ]
    .concat()
}

/// The doc id at the end of an index key.
pub fn index_doc(key: &[u8]) -> Option<&str> {
    let pos = key.iter().rposition(|b| *b == 0)?;
    std::str::from_utf8(&key[pos + 1..]).ok()
}

pub fn user(token_hash: &str) -> Vec<u8> {
    [b"u/", token_hash.as_bytes()].concat()
}

pub const USER_PREFIX: &[u8] = b"u/";

pub fn peer_cursor(peer: &str) -> Vec<u8> {
    [b"p/", peer.as_bytes()].concat()
}

pub fn attachment(hash: &str) -> Vec<u8> {
    [b"a/", hash.as_bytes()].concat()
}
