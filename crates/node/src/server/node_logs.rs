//! `GET /logs/` and `/logs/{path}`: the node's own log files
//! (`nodes/log`, the kubelet's file server on `/var/log`): a directory
//! answers an HTML listing as Go's file server writes it, a file its
//! bytes, streamed. Nothing outside the directory is served: `..`
//! components are refused and the resolved path (symlinks followed) must
//! stay under it.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::io::AsyncReadExt;

use super::error::NodeApiError;
use super::ServerState;

/// This file's routes.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route(
            "/logs/",
            get(|State(s): State<Arc<ServerState>>| async move {
                serve(&s.config.node_log_dir, "").await
            }),
        )
        .route(
            "/logs/*path",
            get(
                |State(s): State<Arc<ServerState>>, UrlPath(path): UrlPath<String>| async move {
                    serve(&s.config.node_log_dir, &path).await
                },
            ),
        )
}

/// `rel` under `root`, if it stays there.
pub fn resolve(root: &Path, rel: &str) -> Result<PathBuf, NodeApiError> {
    let mut path = root.to_path_buf();
    for c in Path::new(rel.trim_start_matches('/')).components() {
        match c {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            _ => {
                return Err(NodeApiError::BadRequest(format!(
                    "invalid path {rel:?}: it must stay under the log directory"
                )))
            }
        }
    }
    let not_found = || NodeApiError::NotFound(format!("{rel:?} not found"));
    let real = std::fs::canonicalize(&path).map_err(|_| not_found())?;
    let real_root = std::fs::canonicalize(root).map_err(|_| not_found())?;
    if !real.starts_with(&real_root) {
        return Err(not_found());
    }
    Ok(real)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

async fn serve(root: &Path, rel: &str) -> Result<Response, NodeApiError> {
    let path = resolve(root, rel)?;
    let meta = tokio::fs::metadata(&path)
        .await
        .map_err(|_| NodeApiError::NotFound(format!("{rel:?} not found")))?;
    if meta.is_dir() {
        let mut names = Vec::new();
        let mut dir = tokio::fs::read_dir(&path)
            .await
            .map_err(|e| NodeApiError::NotFound(format!("{rel:?}: {e}")))?;
        while let Ok(Some(entry)) = dir.next_entry().await {
            let mut name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().await.is_ok_and(|t| t.is_dir()) {
                name.push('/');
            }
            names.push(name);
        }
        names.sort();
        let mut html = String::from("<pre>\n");
        for n in names {
            let href: String = n
                .bytes()
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            html.push_str(&format!(
                "<a href=\"{}\">{}</a>\n",
                escape(&href),
                escape(&n)
            ));
        }
        html.push_str("</pre>\n");
        return Ok(([(CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response());
    }
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| NodeApiError::NotFound(format!("{rel:?}: {e}")))?;
    let stream = futures::stream::unfold(file, |mut file| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((
                    Ok::<_, std::convert::Infallible>(bytes::Bytes::from(buf)),
                    file,
                ))
            }
        }
    });
    Ok((
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        Body::from_stream(stream),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_under_the_root() {
        let root = tempfile::tempdir().expect("test");
        std::fs::create_dir(root.path().join("sub")).expect("test");
        std::fs::write(root.path().join("sub/a.log"), "x").expect("test");
        std::os::unix::fs::symlink("/etc", root.path().join("escape")).expect("test");
        assert!(resolve(root.path(), "sub/a.log").is_ok());
        assert!(resolve(root.path(), "/sub/./a.log").is_ok());
        for bad in ["../etc/passwd", "sub/../../etc", "escape/passwd", "missing"] {
            assert!(resolve(root.path(), bad).is_err(), "{bad}");
        }
    }
}
