//! `GET /version`: kube-apiserver's `version.Info`.
//!
//! kubectl parses `gitVersion` as strict semver (and fails otherwise), and
//! warns when the minor differs from its own by more than one; the Python
//! client requires the nine classic fields. rkube reports the Kubernetes
//! version whose API it serves, with `+rkube` as build metadata.
//!
//! `gitCommit`, `gitTreeState` and `buildDate` come from the build
//! environment variables `RKUBE_GIT_COMMIT`, `RKUBE_GIT_TREE_STATE` and
//! `RKUBE_BUILD_DATE` when set (a release build sets them).

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;

/// The Kubernetes major version served.
pub const KUBE_MAJOR: u32 = 1;
/// The Kubernetes minor version served.
pub const KUBE_MINOR: u32 = 37;
/// `gitVersion`: strict semver with build metadata.
pub const GIT_VERSION: &str = "v1.37.0+rkube";

/// kube-apiserver's `version.Info`, field for field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    pub major: String,
    pub minor: String,
    pub emulation_major: String,
    pub emulation_minor: String,
    pub min_compatibility_major: String,
    pub min_compatibility_minor: String,
    pub git_version: String,
    pub git_commit: String,
    pub git_tree_state: String,
    pub build_date: String,
    pub go_version: String,
    pub compiler: String,
    pub platform: String,
}

impl VersionInfo {
    /// This build's version information.
    pub fn current() -> Self {
        VersionInfo {
            major: KUBE_MAJOR.to_string(),
            minor: KUBE_MINOR.to_string(),
            emulation_major: KUBE_MAJOR.to_string(),
            emulation_minor: KUBE_MINOR.to_string(),
            min_compatibility_major: KUBE_MAJOR.to_string(),
            min_compatibility_minor: (KUBE_MINOR - 1).to_string(),
            git_version: GIT_VERSION.to_owned(),
            git_commit: option_env!("RKUBE_GIT_COMMIT").unwrap_or("").to_owned(),
            git_tree_state: option_env!("RKUBE_GIT_TREE_STATE").unwrap_or("").to_owned(),
            // kube-apiserver's value when the build date is unknown.
            build_date: option_env!("RKUBE_BUILD_DATE")
                .unwrap_or("1970-01-01T00:00:00Z")
                .to_owned(),
            go_version: "n/a".to_owned(),
            compiler: "rustc".to_owned(),
            platform: platform(),
        }
    }
}

/// `<os>/<arch>` in Go's spelling (`linux/amd64`, `darwin/arm64`).
pub fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}

/// A router serving `GET /version` (and `/version/`, which the Python
/// client asks for).
pub fn router() -> Router {
    Router::new()
        .route("/version", get(handler))
        .route("/version/", get(handler))
}

/// The `/version` handler: indented JSON, as kube-apiserver writes it.
pub async fn handler() -> Response {
    let body = serde_json::to_string_pretty(&VersionInfo::current()).unwrap_or_default();
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_semver() {
        let info = serde_json::to_value(VersionInfo::current()).expect("json");
        for field in [
            "major",
            "minor",
            "emulationMajor",
            "emulationMinor",
            "minCompatibilityMajor",
            "minCompatibilityMinor",
            "gitVersion",
            "gitCommit",
            "gitTreeState",
            "buildDate",
            "goVersion",
            "compiler",
            "platform",
        ] {
            assert!(info[field].is_string(), "{field}");
        }
        assert_eq!(info["major"], "1");
        assert_eq!(info["minor"], "37");
        // Strict semver: vMAJOR.MINOR.PATCH, then optional +build metadata.
        let version = GIT_VERSION.strip_prefix('v').expect("v prefix");
        let (core, build) = version.split_once('+').expect("build metadata");
        let numbers: Vec<u32> = core
            .split('.')
            .map(|n| n.parse().expect("number"))
            .collect();
        assert_eq!(numbers, [KUBE_MAJOR, KUBE_MINOR, 0]);
        assert!(build
            .split('.')
            .all(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')));
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            assert_eq!(platform(), "linux/amd64");
        }
    }
}
