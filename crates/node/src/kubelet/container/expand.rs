//! `$(VAR)` expansion in `command`, `args` and `env` values, as Kubernetes
//! does it: `$(NAME)` becomes the variable's value, `$$` a single `$`, and a
//! reference to an unknown variable (or an unclosed one) stays as written.

/// Expand `input` with `lookup` (None: leave the reference as written).
pub fn expand<'a>(input: &str, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        match after.chars().next() {
            // A `$` at the end stays.
            None => {
                out.push('$');
                rest = after;
            }
            Some('$') => {
                out.push('$');
                rest = &after[1..];
            }
            Some('(') => match after.find(')') {
                Some(close) => {
                    let name = &after[1..close];
                    match lookup(name) {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &after[close + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = &after[1..];
                }
            },
            Some(c) => {
                out.push('$');
                out.push(c);
                rest = &after[c.len_utf8()..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(s: &str) -> String {
        expand(s, |n| match n {
            "A" => Some("alpha"),
            "EMPTY" => Some(""),
            _ => None,
        })
    }

    #[test]
    fn expands_as_kubernetes() {
        assert_eq!(x("$(A)"), "alpha");
        assert_eq!(x("x-$(A)-$(A)"), "x-alpha-alpha");
        assert_eq!(x("$(EMPTY)!"), "!");
        assert_eq!(x("$(B)"), "$(B)");
        assert_eq!(x("$$(A)"), "$(A)");
        assert_eq!(x("$$$(A)"), "$alpha");
        assert_eq!(x("cost $5"), "cost $5");
        assert_eq!(x("end$"), "end$");
        assert_eq!(x("$(A"), "$(A");
        assert_eq!(x("$()"), "$()");
        assert_eq!(x("é$(A)é"), "éalphaé");
    }
}
