//! The sync strip on every page: which peers this node knows, when each last synced, and a
//! clear 离线 banner when none has synced lately, so people know their work is not yet shared.
//! Pure: it reads the peer table's snapshot (as `/api/status` shows it) and the time.

use chrono::{DateTime, Utc};

use super::format;
use crate::sync::peers::PeerInfo;

/// A peer that synced less than this long ago counts as reachable.
pub const ONLINE_WITHIN: chrono::Duration = chrono::Duration::minutes(5);

pub struct SyncStrip {
    /// `online`, `offline` or `standalone` (a CSS class).
    pub mode: &'static str,
    pub summary: String,
    /// Empty when online.
    pub banner: String,
    pub peers: Vec<PeerLine>,
}

pub struct PeerLine {
    pub name: String,
    pub address: String,
    pub last_sync: String,
    pub recent: bool,
}

impl SyncStrip {
    pub fn of(peers: &[PeerInfo], looks_for_peers: bool, now: DateTime<Utc>) -> SyncStrip {
        let last_sync = |p: &PeerInfo| {
            p.last_sync
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        let lines: Vec<PeerLine> = peers
            .iter()
            .map(|p| PeerLine {
                name: if p.name.is_empty() {
                    "（尚未连上）".to_string()
                } else {
                    p.name.clone()
                },
                address: p.address.clone(),
                last_sync: p
                    .last_sync
                    .as_deref()
                    .map(format::minute_of)
                    .unwrap_or_else(|| "从未同步".to_string()),
                recent: last_sync(p).is_some_and(|t| now - t < ONLINE_WITHIN),
            })
            .collect();
        let latest = peers.iter().filter_map(last_sync).max();
        let recent = lines.iter().filter(|l| l.recent).count();
        if peers.is_empty() && !looks_for_peers {
            return SyncStrip {
                mode: "standalone",
                summary: "同步：单机模式（没有开启局域网发现，也没有配置其他节点）".into(),
                banner: "单机模式：这里的数据只保存在本机，尚未与任何人共享。".into(),
                peers: lines,
            };
        }
        if recent > 0 {
            return SyncStrip {
                mode: "online",
                summary: format!(
                    "在线：{recent}/{} 个节点 5 分钟内已同步；最近同步 {}",
                    lines.len(),
                    latest
                        .map(|t| format::minute_of(&t.to_rfc3339()))
                        .unwrap_or_default()
                ),
                banner: String::new(),
                peers: lines,
            };
        }
        let since = match latest {
            Some(t) => format!("最近一次同步在 {}", format::minute_of(&t.to_rfc3339())),
            None if peers.is_empty() => "尚未发现其他节点".to_string(),
            None => "还没有同步成功过".to_string(),
        };
        SyncStrip {
            mode: "offline",
            summary: format!("离线：{since}"),
            banner: format!(
                "离线：5 分钟内没有与任何节点同步（{since}）。工作照常进行，本机的新改动尚未共享给其他节点，联网后会自动同步。"
            ),
            peers: lines,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::peers::FoundBy;

    fn peer(last_sync: Option<&str>) -> PeerInfo {
        PeerInfo {
            node_id: "n2".into(),
            name: "财务".into(),
            role: "finance".into(),
            address: "10.0.0.2:7781".into(),
            found_by: FoundBy::Static,
            last_sync: last_sync.map(str::to_string),
            we_lack: 0,
            they_lack: 0,
            last_error: None,
        }
    }

    fn at(t: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(t)
            .expect("instant")
            .with_timezone(&Utc)
    }

    #[test]
    fn no_peer_and_no_discovery_is_standalone() {
        let strip = SyncStrip::of(&[], false, at("2026-12-01T10:00:00Z"));
        assert_eq!(strip.mode, "standalone");
        assert!(strip.banner.contains("单机模式"));
    }

    #[test]
    fn a_sync_within_five_minutes_is_online() {
        let strip = SyncStrip::of(
            &[peer(Some("2026-12-01T09:57:00Z"))],
            true,
            at("2026-12-01T10:00:00Z"),
        );
        assert_eq!(strip.mode, "online");
        assert!(strip.banner.is_empty());
        assert_eq!(strip.peers[0].last_sync, "2026-12-01 17:57");
    }

    #[test]
    fn an_old_sync_or_none_is_offline_with_a_banner() {
        let now = at("2026-12-01T10:00:00Z");
        let strip = SyncStrip::of(&[peer(Some("2026-12-01T09:54:59Z"))], true, now);
        assert_eq!(strip.mode, "offline");
        assert!(strip.banner.starts_with("离线"), "{}", strip.banner);
        assert!(strip.banner.contains("17:54"));
        let strip = SyncStrip::of(&[peer(None)], false, now);
        assert_eq!(strip.mode, "offline");
        let strip = SyncStrip::of(&[], true, now);
        assert_eq!(strip.mode, "offline");
        assert!(strip.summary.contains("尚未发现"));
    }
}
