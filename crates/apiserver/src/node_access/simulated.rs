//! What a simulated node answers in its kubelet's place, as kwok does:
//! a container's log is a few synthetic lines naming it; exec, attach,
//! port-forward and proxying are refused with a `400 BadRequest` saying
//! the node is simulated (a client gets a reason, not a 404, and nothing
//! ever connects to the node's made-up address).

use rkube_apimachinery::ApiError;

/// The log a simulated container shows, and how `pods/log` asked for it.
pub struct SimulatedLog<'a> {
    pub node: &'a str,
    pub namespace: &'a str,
    pub pod: &'a str,
    pub container: &'a str,
    pub image: &'a str,
    /// When the container started (RFC 3339), for `timestamps=true`.
    pub started: &'a str,
    /// `tailLines`: only the last N lines.
    pub tail_lines: Option<u64>,
    /// `timestamps`: each line starts with its RFC 3339 time.
    pub timestamps: bool,
    /// `limitBytes`: at most this many bytes.
    pub limit_bytes: Option<u64>,
}

impl SimulatedLog<'_> {
    /// The log text.
    pub fn text(&self) -> String {
        let lines = [
            format!(
                "container {} of pod {}/{} started (image {})",
                self.container, self.namespace, self.pod, self.image
            ),
            format!(
                "node {} is simulated by rkube: container {} runs no process",
                self.node, self.container
            ),
            format!("container {} is running", self.container),
        ];
        let skip = match self.tail_lines {
            Some(n) => lines
                .len()
                .saturating_sub(usize::try_from(n).unwrap_or(usize::MAX)),
            None => 0,
        };
        let stamp = time_with_nanos(self.started);
        let mut out = String::new();
        for line in &lines[skip..] {
            if self.timestamps {
                out.push_str(&stamp);
                out.push(' ');
            }
            out.push_str(line);
            out.push('\n');
        }
        if let Some(limit) = self.limit_bytes {
            let mut cut = usize::try_from(limit).unwrap_or(usize::MAX).min(out.len());
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
        }
        out
    }
}

/// `2026-12-07T10:00:00Z` as the kubelet stamps log lines
/// (`2026-12-07T10:00:00.000000000Z`); anything else unchanged.
fn time_with_nanos(t: &str) -> String {
    match t.strip_suffix('Z') {
        Some(base) if !base.contains('.') && !base.is_empty() => format!("{base}.000000000Z"),
        _ if t.is_empty() => "1970-01-01T00:00:00.000000000Z".to_string(),
        _ => t.to_string(),
    }
}

/// The refusal of `what` (`exec`, `attach`, `port-forward`, `proxy`) on a
/// simulated node.
pub fn refuse(what: &str, node: &str, pod: Option<(&str, &str)>) -> ApiError {
    let subject = match pod {
        Some((ns, name)) => format!("pod {ns}/{name} runs on node {node}, which"),
        None => format!("node {node}"),
    };
    ApiError::bad_request(format!(
        "{what} is not available: {subject} is simulated (it runs no containers)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> SimulatedLog<'static> {
        SimulatedLog {
            node: "sim-0",
            namespace: "default",
            pod: "web",
            container: "nginx",
            image: "nginx:1",
            started: "2026-12-07T10:00:00Z",
            tail_lines: None,
            timestamps: false,
            limit_bytes: None,
        }
    }

    #[test]
    fn the_log_names_the_container_and_honours_the_options() {
        let all = log().text();
        assert_eq!(all.lines().count(), 3);
        assert!(all.contains("container nginx of pod default/web"), "{all}");
        let tail = SimulatedLog {
            tail_lines: Some(1),
            timestamps: true,
            ..log()
        }
        .text();
        assert_eq!(
            tail,
            "2026-12-07T10:00:00.000000000Z container nginx is running\n"
        );
        let none = SimulatedLog {
            tail_lines: Some(0),
            ..log()
        }
        .text();
        assert_eq!(none, "");
        let cut = SimulatedLog {
            limit_bytes: Some(9),
            ..log()
        }
        .text();
        assert_eq!(cut, "container");
    }

    #[test]
    fn refusals_are_bad_requests_naming_the_node() {
        let e = refuse("exec", "sim-0", Some(("default", "web")));
        assert_eq!(e.code(), 400);
        assert!(e.message().contains("simulated"), "{}", e.message());
        assert!(e.message().contains("sim-0"));
    }
}
