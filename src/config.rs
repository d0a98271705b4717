//! Validated settings for a node. Sources, strongest first: command-line flags, `NEIQIN_*`
//! environment variables (both through clap), the TOML config file, then defaults.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::domain::role::Role;

pub const DEFAULT_DATA_DIR: &str = "neiqin-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7780";
pub const DEFAULT_PEER_LISTEN: &str = "0.0.0.0:7781";
pub const CONFIG_FILE_NAME: &str = "neiqin.toml";
pub const DEFAULT_PAGE_CACHE_MB: u64 = crate::store::DEFAULT_PAGE_CACHE_BYTES >> 20;
/// Below this sled's page cache thrashes on every write; above it, it is surely a typo.
const PAGE_CACHE_MB_RANGE: std::ops::RangeInclusive<u64> = 8..=65_536;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{field}: {message}")]
    Value { field: String, message: String },
}

/// The config file, every key optional. Unknown keys are an error, so a typo is never ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub data: Option<PathBuf>,
    pub listen: Option<String>,
    pub peer_listen: Option<String>,
    #[serde(default)]
    pub peers: Vec<String>,
    pub mdns: Option<bool>,
    #[serde(default)]
    pub mdns_interfaces: Vec<String>,
    pub name: Option<String>,
    pub role: Option<String>,
    pub cache_docs: Option<usize>,
    pub page_cache_mb: Option<u64>,
    /// Days late after which an order goes to the VP's queue (上报销售副总), default 3.
    pub delay_escalate_after_days: Option<u32>,
    /// Days open after which a complaint goes to the supervisor's queue (上报主管), default 7.
    pub complaint_escalate_after_days: Option<u32>,
}

impl ConfigFile {
    pub fn read(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

/// Everything a running node needs, checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub peer_listen: SocketAddr,
    /// Static peers, `host:port`, for subnets mDNS does not cross.
    pub peers: Vec<String>,
    pub mdns: bool,
    /// Interfaces mDNS may use; empty means every suitable one (not loopback, docker or veth).
    pub mdns_interfaces: Vec<String>,
    /// Name and role used when the node initialises itself on first start.
    pub name: String,
    pub role: Role,
    /// How many documents the store keeps loaded (about 22 KB each).
    pub cache_docs: usize,
    /// sled's page cache in MB, as sled counts pages (compressed): the memory it holds is
    /// larger, about 470 MB at rest after receiving 100,000 orders with the default 96.
    pub page_cache_mb: u64,
    /// Pull from nodes that pull from us, so one-sided static config still syncs both ways.
    pub learn_peers: bool,
    /// Roles of the node's own certificate when this start creates a new cluster (its CA).
    pub certificate_roles: Vec<Role>,
    /// When late orders and open complaints go up to the VP and the supervisor.
    pub escalation: crate::service::Escalation,
}

pub fn parse_addr(field: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| ConfigError::Value {
        field: field.to_string(),
        message: format!("{value:?} is not an address like 127.0.0.1:7780"),
    })
}

pub fn parse_role(field: &str, value: &str) -> Result<Role, ConfigError> {
    value
        .parse()
        .map_err(|e: crate::domain::role::UnknownRole| ConfigError::Value {
            field: field.to_string(),
            message: e.to_string(),
        })
}

pub fn check_peer(value: &str) -> Result<String, ConfigError> {
    let ok = value
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0));
    if ok {
        Ok(value.to_string())
    } else {
        Err(ConfigError::Value {
            field: "peer".into(),
            message: format!("{value:?} is not HOST:PORT"),
        })
    }
}

/// Escalation days: a year at most, as the lists' `escalate_after_days` allow.
pub fn check_escalation_days(field: &str, value: u32) -> Result<u32, ConfigError> {
    if value <= 365 {
        Ok(value)
    } else {
        Err(ConfigError::Value {
            field: field.to_string(),
            message: format!("{value} days is more than a year (at most 365)"),
        })
    }
}

/// The escalation days the config file gives, each checked, the defaults for the rest.
pub fn escalation(file: &ConfigFile) -> Result<crate::service::Escalation, ConfigError> {
    let defaults = crate::service::Escalation::default();
    Ok(crate::service::Escalation {
        late_order_days: check_escalation_days(
            "delay_escalate_after_days",
            file.delay_escalate_after_days
                .unwrap_or(defaults.late_order_days),
        )?,
        open_complaint_days: check_escalation_days(
            "complaint_escalate_after_days",
            file.complaint_escalate_after_days
                .unwrap_or(defaults.open_complaint_days),
        )?,
    })
}

pub fn check_page_cache_mb(value: u64) -> Result<u64, ConfigError> {
    if PAGE_CACHE_MB_RANGE.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::Value {
            field: "page_cache_mb".into(),
            message: format!(
                "{value} is not between {} and {}",
                PAGE_CACHE_MB_RANGE.start(),
                PAGE_CACHE_MB_RANGE.end()
            ),
        })
    }
}

impl Config {
    /// A config for tests and embedding: loopback on port 0, no mDNS.
    pub fn local(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            data_dir: data_dir.into(),
            listen: "127.0.0.1:0".parse().expect("valid literal"),
            peer_listen: "127.0.0.1:0".parse().expect("valid literal"),
            peers: Vec::new(),
            mdns: false,
            mdns_interfaces: Vec::new(),
            name: "node".into(),
            role: Role::Clerk,
            cache_docs: 2000,
            page_cache_mb: DEFAULT_PAGE_CACHE_MB,
            learn_peers: true,
            // Tests and embedding: one node plays every role.
            certificate_roles: Role::BUSINESS.to_vec(),
            escalation: crate::service::Escalation::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_cache_outside_its_range_is_refused_naming_the_setting() {
        for ok in [8, DEFAULT_PAGE_CACHE_MB, 65_536] {
            assert_eq!(check_page_cache_mb(ok).unwrap(), ok);
        }
        for bad in [0, 7, 65_537] {
            let err = check_page_cache_mb(bad).unwrap_err().to_string();
            assert!(err.starts_with("page_cache_mb: "), "{err}");
        }
    }
}
