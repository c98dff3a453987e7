//! Service account tokens for projected volumes, from the TokenRequest API
//! (`serviceaccounts/<name>/token`), bound to the pod; renewed when 80 % of
//! their lifetime has passed, as the kubelet renews them.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount, ServiceAccountTokenProjection};
use kube::api::{Api, PostParams};
use kube::Client;
use serde_json::json;

/// `expirationSeconds` when the spec gives none.
const DEFAULT_EXPIRATION: i64 = 3600;

/// A JWT's `iat` and `exp` claims (seconds since the epoch).
fn claims(token: &[u8]) -> Option<(u64, u64)> {
    use base64::Engine;
    let text = std::str::from_utf8(token).ok()?;
    let payload = text.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&json).ok()?;
    Some((v.get("iat")?.as_u64()?, v.get("exp")?.as_u64()?))
}

/// Whether a token issued at `iat` expiring at `exp` is still young
/// enough to keep at `now` (less than 80 % of its life gone).
fn young(iat: u64, exp: u64, now: u64) -> bool {
    exp > iat && now < iat + (exp - iat) * 8 / 10
}

/// The token already in the volume at `existing`, if young enough to keep
/// (its claims say; for a token that is not a JWT, the file's age).
fn fresh(existing: &Path, expiration: i64) -> Option<Vec<u8>> {
    let token = std::fs::read(existing).ok()?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    if let Some((iat, exp)) = claims(&token) {
        return young(iat, exp, now).then_some(token);
    }
    let age = SystemTime::now()
        .duration_since(std::fs::metadata(existing).ok()?.modified().ok()?)
        .unwrap_or(Duration::ZERO);
    let keep = Duration::from_secs((expiration.max(600) as u64) * 8 / 10);
    (age < keep).then_some(token)
}

/// A token for the pod's service account per `t`; None when the API server
/// has no TokenRequest (404): the source is then skipped (logged).
pub async fn token(
    client: &Client,
    pod: &Pod,
    t: &ServiceAccountTokenProjection,
    existing: &Path,
) -> Result<Option<Vec<u8>>, String> {
    let expiration = t.expiration_seconds.unwrap_or(DEFAULT_EXPIRATION);
    if let Some(tok) = fresh(existing, expiration) {
        return Ok(Some(tok));
    }
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let sa = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or("default");
    let audiences: Vec<&str> = t
        .audience
        .as_deref()
        .filter(|a| !a.is_empty())
        .into_iter()
        .collect();
    let body = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": audiences,
            "expirationSeconds": expiration,
            "boundObjectRef": {
                "apiVersion": "v1", "kind": "Pod",
                "name": pod.metadata.name, "uid": pod.metadata.uid,
            },
        },
    });
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    match api
        .create_subresource::<_, TokenRequest>("token", sa, &PostParams::default(), &body)
        .await
    {
        Ok(tr) => Ok(tr.status.and_then(|s| s.token).map(String::into_bytes)),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            tracing::warn!(
                namespace = ns,
                service_account = sa,
                "the API server has no TokenRequest for this service account; the projected token is left out"
            );
            Ok(None)
        }
        Err(e) => Err(format!("failed to fetch token: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn renews_after_eighty_percent_of_the_life() {
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"iat":1000,"exp":2000}"#);
        let jwt = format!("e30.{payload}.sig");
        assert_eq!(claims(jwt.as_bytes()), Some((1000, 2000)));
        assert!(young(1000, 2000, 1799));
        assert!(!young(1000, 2000, 1800));
        assert_eq!(claims(b"not a jwt"), None);
    }
}
