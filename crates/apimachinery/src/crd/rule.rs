//! [`Rule`]: one `x-kubernetes-validations` entry, compiled when its
//! schema is parsed (`schema.rs`) and evaluated by `rules.rs`.

use std::sync::{Arc, OnceLock};

use cel::{Env, Program};
use serde_json::Value;

use crate::cause::{Cause, CauseType};

/// One `x-kubernetes-validations` entry, compiled.
#[derive(Debug, Clone)]
pub struct Rule {
    pub rule: String,
    pub message: Option<String>,
    pub(super) message_expression: Option<Arc<Program>>,
    pub(super) reason: Option<CauseType>,
    /// `fieldPath`, without its leading dot (`spec.replicas`).
    pub(super) field_path: Option<String>,
    pub(super) program: Arc<Program>,
    /// The rule reads `oldSelf`.
    pub(super) transition: bool,
    pub(super) optional_old_self: bool,
}

pub(super) fn env() -> &'static Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        // Both extensions declare distinct functions; a failure would only
        // mean a missing function, which a rule then reports as an error.
        let _ = env.add_extension(cel::extensions::strings);
        let _ = env.add_extension(cel::extensions::lists);
        Arc::new(env)
    })
}

const REASONS: &[&str] = &[
    "FieldValueDuplicate",
    "FieldValueForbidden",
    "FieldValueInvalid",
    "FieldValueRequired",
];

/// Compiles a node's `x-kubernetes-validations` (`v`, at `path`), adding a
/// cause for each rule that is empty, does not compile, or is malformed.
pub(super) fn parse_rules(v: Option<&Value>, path: &str, causes: &mut Vec<Cause>) -> Vec<Rule> {
    let Some(v) = v else {
        return Vec::new();
    };
    let path = format!("{path}.x-kubernetes-validations");
    let Some(items) = v.as_array() else {
        causes.push(Cause::invalid(path, v.clone(), "must be a list"));
        return Vec::new();
    };
    let mut rules = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let text = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
        let Some(rule) = text("rule").filter(|r| !r.trim().is_empty()) else {
            causes.push(Cause::required(format!("{at}.rule"), ""));
            continue;
        };
        let program = match env().compile(&rule) {
            Ok(p) => p,
            Err(e) => {
                causes.push(Cause::invalid(
                    format!("{at}.rule"),
                    rule.as_str(),
                    &format!("compilation failed: {e}"),
                ));
                continue;
            }
        };
        let message_expression = match text("messageExpression") {
            None => None,
            Some(m) => match env().compile(&m) {
                Ok(p) => Some(Arc::new(p)),
                Err(e) => {
                    causes.push(Cause::invalid(
                        format!("{at}.messageExpression"),
                        m.as_str(),
                        &format!("messageExpression compilation failed: {e}"),
                    ));
                    continue;
                }
            },
        };
        let reason = match text("reason") {
            None => None,
            Some(r) => match r.as_str() {
                "FieldValueDuplicate" => Some(CauseType::Duplicate),
                "FieldValueForbidden" => Some(CauseType::Forbidden),
                "FieldValueInvalid" => Some(CauseType::Invalid),
                "FieldValueRequired" => Some(CauseType::Required),
                _ => {
                    causes.push(Cause::not_supported(format!("{at}.reason"), r, REASONS));
                    continue;
                }
            },
        };
        let field_path = text("fieldPath").map(|f| f.trim_start_matches('.').to_string());
        let transition = program.references().has_variable("oldSelf");
        let optional_old_self = item
            .get("optionalOldSelf")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        rules.push(Rule {
            rule,
            message: text("message").filter(|m| !m.trim().is_empty()),
            message_expression,
            reason,
            field_path,
            program: Arc::new(program),
            transition,
            optional_old_self,
        });
    }
    rules
}
