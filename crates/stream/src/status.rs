//! What the error channel carries when an exec or attach ends: a v1
//! `Status` (protocol v4 and later: `Success`, or `Failure` with reason
//! `NonZeroExitCode` and the code in `details.causes`, which is how
//! `kubectl exec` exits with the command's code), or for the older
//! protocols the failure's message as plain text.

use serde_json::json;

/// How an exec'd command or an attached container ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecOutcome {
    /// The command exited with this code.
    Exited(i32),
    /// The command could not be run or followed (a runtime error).
    Failed(String),
}

impl ExecOutcome {
    /// The `Status` object written to the error stream (protocol v4+).
    pub fn status(&self) -> serde_json::Value {
        match self {
            ExecOutcome::Exited(0) => json!({"metadata": {}, "status": "Success"}),
            ExecOutcome::Exited(code) => json!({
                "metadata": {},
                "status": "Failure",
                "message": format!("command terminated with non-zero exit code: exit status {code}"),
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
            }),
            ExecOutcome::Failed(message) => json!({
                "metadata": {},
                "status": "Failure",
                "message": format!("Internal error occurred: error executing command in container: {message}"),
                "reason": "InternalError",
                "details": {"causes": [{"message": format!("error executing command in container: {message}")}]},
                "code": 500,
            }),
        }
    }

    /// The bytes written to the error stream under remotecommand version
    /// `version`; empty when nothing is to be written (success before v4).
    pub fn error_stream_bytes(&self, version: u8) -> Vec<u8> {
        if version >= 4 {
            return self.status().to_string().into_bytes();
        }
        match self {
            ExecOutcome::Exited(0) => Vec::new(),
            ExecOutcome::Exited(code) => {
                format!("command terminated with non-zero exit code: exit status {code}")
                    .into_bytes()
            }
            ExecOutcome::Failed(message) => {
                format!("error executing command in container: {message}").into_bytes()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonzero_exit_code_is_a_cause() {
        let s = ExecOutcome::Exited(3).status();
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "3");
        assert_eq!(ExecOutcome::Exited(0).status()["status"], "Success");
        assert!(ExecOutcome::Exited(0).error_stream_bytes(3).is_empty());
    }
}
