//! What configMap, secret, downwardAPI and projected volumes hold, from
//! the objects read from the API: pure functions from sources to a
//! [`Payload`], with the kubelet's rules (`items` with paths and modes,
//! `defaultMode` 0644, `optional`) and its messages.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, DownwardAPIVolumeFile, KeyToPath, Pod, ProjectedVolumeSource, Secret,
};

use crate::kubelet::container::fieldref::{
    field_value, resource_value, Addresses, NodeAllocatable,
};
use crate::kubelet::volumes::atomic_writer::{FileProjection, Payload};

/// `defaultMode` when the spec gives none.
pub const DEFAULT_MODE: i32 = 0o644;

fn mode(m: Option<i32>, default: i32) -> u32 {
    (m.unwrap_or(default) as u32) & 0o777
}

fn project(
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    default_mode: i32,
    optional: bool,
    missing_key: impl Fn(&str) -> String,
    out: &mut Payload,
) -> Result<(), String> {
    match items {
        None | Some([]) => {
            for (k, v) in data {
                out.insert(
                    k.clone(),
                    FileProjection {
                        data: v.clone(),
                        mode: mode(None, default_mode),
                    },
                );
            }
        }
        Some(items) => {
            for item in items {
                match data.get(&item.key) {
                    Some(v) => {
                        out.insert(
                            item.path.clone(),
                            FileProjection {
                                data: v.clone(),
                                mode: mode(item.mode, default_mode),
                            },
                        );
                    }
                    None if optional => {}
                    None => return Err(missing_key(&item.key)),
                }
            }
        }
    }
    Ok(())
}

fn config_map_data(cm: &ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let mut data: BTreeMap<String, Vec<u8>> = cm
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
        .collect();
    for (k, v) in cm.binary_data.iter().flatten() {
        data.insert(k.clone(), v.0.clone());
    }
    data
}

fn secret_data(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    s.data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect()
}

/// A configMap volume (or projection) into `out`.
pub fn config_map(
    cm: Option<&ConfigMap>,
    name: &str,
    items: Option<&[KeyToPath]>,
    default_mode: i32,
    optional: bool,
    out: &mut Payload,
) -> Result<(), String> {
    let Some(cm) = cm else {
        return if optional {
            Ok(())
        } else {
            Err(format!("configmap \"{name}\" not found"))
        };
    };
    project(
        &config_map_data(cm),
        items,
        default_mode,
        optional,
        |k| format!("configmap references non-existent config key: {k}"),
        out,
    )
}

/// A secret volume (or projection) into `out`.
pub fn secret(
    s: Option<&Secret>,
    name: &str,
    items: Option<&[KeyToPath]>,
    default_mode: i32,
    optional: bool,
    out: &mut Payload,
) -> Result<(), String> {
    let Some(s) = s else {
        return if optional {
            Ok(())
        } else {
            Err(format!("secret \"{name}\" not found"))
        };
    };
    project(
        &secret_data(s),
        items,
        default_mode,
        optional,
        |k| format!("references non-existent secret key: {k}"),
        out,
    )
}

/// A downwardAPI volume (or projection) into `out`.
pub fn downward_api(
    pod: &Pod,
    items: &[DownwardAPIVolumeFile],
    default_mode: i32,
    addrs: Addresses,
    node: &NodeAllocatable,
    out: &mut Payload,
) -> Result<(), String> {
    for item in items {
        let value = if let Some(f) = &item.field_ref {
            field_value(pod, f, addrs)
                .ok_or_else(|| format!("unsupported fieldPath: {}", f.field_path))?
        } else if let Some(r) = &item.resource_field_ref {
            resource_value(pod, None, r, node).map_err(|e| e.to_string())?
        } else {
            continue;
        };
        out.insert(
            item.path.clone(),
            FileProjection {
                data: value.into_bytes(),
                mode: mode(item.mode, default_mode),
            },
        );
    }
    Ok(())
}

/// What a projected volume's sources were read as: ConfigMaps and Secrets
/// by name (absent: not found), and the service account tokens by path
/// (absent: the API has no TokenRequest; the source is skipped).
#[derive(Clone, Debug, Default)]
pub struct ProjectedSources {
    pub config_maps: BTreeMap<String, ConfigMap>,
    pub secrets: BTreeMap<String, Secret>,
    pub tokens: BTreeMap<String, Vec<u8>>,
}

/// A projected volume.
pub fn projected(
    pod: &Pod,
    src: &ProjectedVolumeSource,
    read: &ProjectedSources,
    addrs: Addresses,
    node: &NodeAllocatable,
) -> Result<Payload, String> {
    let default_mode = src.default_mode.unwrap_or(DEFAULT_MODE);
    let mut out = Payload::new();
    for s in src.sources.iter().flatten() {
        if let Some(c) = &s.config_map {
            config_map(
                read.config_maps.get(&c.name),
                &c.name,
                c.items.as_deref(),
                default_mode,
                c.optional == Some(true),
                &mut out,
            )?;
        }
        if let Some(c) = &s.secret {
            secret(
                read.secrets.get(&c.name),
                &c.name,
                c.items.as_deref(),
                default_mode,
                c.optional == Some(true),
                &mut out,
            )?;
        }
        if let Some(d) = &s.downward_api {
            downward_api(
                pod,
                d.items.as_deref().unwrap_or_default(),
                default_mode,
                addrs,
                node,
                &mut out,
            )?;
        }
        if let Some(t) = &s.service_account_token {
            if let Some(token) = read.tokens.get(&t.path) {
                out.insert(
                    t.path.clone(),
                    FileProjection {
                        data: token.clone(),
                        mode: mode(None, default_mode),
                    },
                );
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm() -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": "cfg"},
            "data": {"a": "1", "b": "2"}, "binaryData": {"bin": "AAE="}}))
        .expect("cm")
    }

    fn items(v: serde_json::Value) -> Vec<KeyToPath> {
        serde_json::from_value(v).expect("items")
    }

    #[test]
    fn config_map_items_modes_optional() {
        let mut out = Payload::new();
        config_map(Some(&cm()), "cfg", None, 0o600, false, &mut out).expect("all");
        assert_eq!(out.len(), 3);
        assert_eq!(
            out["a"],
            FileProjection {
                data: b"1".to_vec(),
                mode: 0o600
            }
        );
        assert_eq!(out["bin"].data, vec![0, 1]);

        let mut out = Payload::new();
        let it =
            items(json!([{"key": "a", "path": "dir/x"}, {"key": "b", "path": "y", "mode": 0o400}]));
        config_map(Some(&cm()), "cfg", Some(&it), DEFAULT_MODE, false, &mut out).expect("items");
        assert_eq!(out.keys().collect::<Vec<_>>(), ["dir/x", "y"]);
        assert_eq!(out["dir/x"].mode, 0o644);
        assert_eq!(out["y"].mode, 0o400);

        let bad = items(json!([{"key": "zz", "path": "z"}]));
        let mut out = Payload::new();
        assert_eq!(
            config_map(
                Some(&cm()),
                "cfg",
                Some(&bad),
                DEFAULT_MODE,
                false,
                &mut out
            )
            .expect_err("missing key"),
            "configmap references non-existent config key: zz"
        );
        config_map(Some(&cm()), "cfg", Some(&bad), DEFAULT_MODE, true, &mut out).expect("optional");
        assert!(out.is_empty());
        assert_eq!(
            config_map(None, "gone", None, DEFAULT_MODE, false, &mut out).expect_err("missing"),
            "configmap \"gone\" not found"
        );
        config_map(None, "gone", None, DEFAULT_MODE, true, &mut out).expect("optional");
        assert_eq!(
            secret(None, "s", None, DEFAULT_MODE, false, &mut out).expect_err("missing"),
            "secret \"s\" not found"
        );
    }

    #[test]
    fn projected_and_downward() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "500m"}}}]},
        }))
        .expect("pod");
        let src: ProjectedVolumeSource = serde_json::from_value(json!({"defaultMode": 0o440, "sources": [
            {"configMap": {"name": "cfg", "items": [{"key": "a", "path": "a.txt"}]}},
            {"downwardAPI": {"items": [
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                {"path": "cpu", "resourceFieldRef": {"containerName": "c", "resource": "limits.cpu", "divisor": "1m"}}]}},
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
            {"secret": {"name": "nope", "optional": true}},
        ]}))
        .expect("source");
        let read = ProjectedSources {
            config_maps: BTreeMap::from([("cfg".to_string(), cm())]),
            tokens: BTreeMap::from([("token".to_string(), b"jwt".to_vec())]),
            ..Default::default()
        };
        let addrs = Addresses {
            host_ip: "192.0.2.1".parse().expect("ip"),
            pod_ip: None,
        };
        let out =
            projected(&pod, &src, &read, addrs, &NodeAllocatable::default()).expect("projected");
        assert_eq!(
            out["a.txt"],
            FileProjection {
                data: b"1".to_vec(),
                mode: 0o440
            }
        );
        assert_eq!(out["labels"].data, b"app=\"web\"".to_vec());
        assert_eq!(out["cpu"].data, b"500".to_vec());
        assert_eq!(out["token"].data, b"jwt".to_vec());
        // Without a token (no TokenRequest API) the source is skipped.
        let out = projected(
            &pod,
            &src,
            &ProjectedSources {
                tokens: BTreeMap::new(),
                ..read
            },
            addrs,
            &NodeAllocatable::default(),
        )
        .expect("projected");
        assert!(!out.contains_key("token"));
    }
}
