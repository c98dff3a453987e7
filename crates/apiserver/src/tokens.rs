//! Static bearer tokens, in kube-apiserver's `--token-auth-file` format:
//! one CSV record a line, `token,user,uid` optionally followed by a
//! quoted, comma-separated group list: `abc123,alice,u-1,"dev,ops"`.
//!
//! rkube keeps the file at `DATA_DIR/pki/tokens.csv` (mode 0600) and writes
//! one admin token (user `kubernetes-admin`, group `system:masters`) when
//! the file does not exist. Edit it to add users; it is read at start.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use tracing::warn;

use crate::files::{self, Mode};
use crate::pki::ADMIN_USER;
use crate::user::{UserInfo, GROUP_MASTERS};

/// What can go wrong reading or writing the token file.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A record is malformed (line numbers count from 1).
    #[error("{}: line {line}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// The tokens of a static token file.
#[derive(Clone, Default)]
pub struct TokenFile {
    tokens: HashMap<String, UserInfo>,
    /// The first token of user `kubernetes-admin`, if any.
    admin_token: Option<String>,
}

impl std::fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenFile")
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

impl TokenFile {
    /// Parse the file's text; `path` is only for messages.
    pub fn parse(path: &Path, text: &str) -> Result<Self, TokenFileError> {
        let mut file = TokenFile::default();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let invalid = |message: String| TokenFileError::Invalid {
                path: path.to_owned(),
                line,
                message,
            };
            if raw.trim().is_empty() {
                continue;
            }
            let fields = split_csv_line(raw).map_err(|m| invalid(m.to_owned()))?;
            if fields.len() < 3 {
                return Err(invalid(format!(
                    "expected token,user,uid[,\"group1,group2\"], found {} field(s)",
                    fields.len()
                )));
            }
            let (token, name, uid) = (&fields[0], &fields[1], &fields[2]);
            if token.is_empty() {
                return Err(invalid("empty token".to_owned()));
            }
            if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(invalid("a token cannot contain spaces".to_owned()));
            }
            let groups = fields
                .get(3)
                .map(|g| {
                    g.split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            let user = UserInfo::authenticated(name.clone(), uid.clone(), groups);
            if file.admin_token.is_none() && user.name == ADMIN_USER {
                file.admin_token = Some(token.clone());
            }
            if file.tokens.insert(token.clone(), user).is_some() {
                warn!(path = %path.display(), line, "duplicate token; the later record wins");
            }
        }
        Ok(file)
    }

    /// Read the file at `path`.
    pub fn load(path: &Path) -> Result<Self, TokenFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Read the file at `path`, first writing one with a new admin token if
    /// it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, TokenFileError> {
        let io = |source| TokenFileError::Io {
            path: path.to_owned(),
            source,
        };
        match files::read_optional(path).map_err(io)? {
            Some(text) => Self::parse(path, &text),
            None => {
                let token = new_token();
                let record = format!("{token},{ADMIN_USER},{ADMIN_USER},\"{GROUP_MASTERS}\"\n");
                files::write_atomic(path, record.as_bytes(), Mode::Private).map_err(io)?;
                Self::parse(path, &record)
            }
        }
    }

    /// The user a token belongs to.
    pub fn lookup(&self, token: &str) -> Option<&UserInfo> {
        self.tokens.get(token)
    }

    /// The first token of the admin user (`kubernetes-admin`), if the file has one.
    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref()
    }

    /// How many tokens the file holds.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the file holds no token.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

/// 32 random bytes as 64 hex digits: safe in CSV and in a header.
fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Split one CSV line (RFC 4180 quoting: `"a,b"`, `""` for a quote inside
/// quotes). A record spanning lines is not supported: tokens don't need it.
fn split_csv_line(line: &str) -> Result<Vec<String>, &'static str> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unterminated quoted field"),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(_) => return Err("text after a closing quote"),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("a quote inside an unquoted field"),
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::GROUP_AUTHENTICATED;

    fn parse(text: &str) -> Result<TokenFile, TokenFileError> {
        TokenFile::parse(Path::new("tokens.csv"), text)
    }

    #[test]
    fn csv_fields() {
        assert_eq!(
            split_csv_line("a,b,c"),
            Ok(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(
            split_csv_line("t,u,i,\"g1,g2\""),
            Ok(vec!["t".into(), "u".into(), "i".into(), "g1,g2".into()])
        );
        assert_eq!(
            split_csv_line("\"a\"\"b\",,\r"),
            Ok(vec!["a\"b".into(), "".into(), "".into()])
        );
        assert_eq!(split_csv_line("\"a"), Err("unterminated quoted field"));
        assert_eq!(split_csv_line("\"a\"b"), Err("text after a closing quote"));
        assert_eq!(
            split_csv_line("a\"b"),
            Err("a quote inside an unquoted field")
        );
    }

    #[test]
    fn records() {
        let file = parse("t1,alice,u1,\"dev, ops\"\n\nt2,bob,u2\nt3,carol,u3,admins,ignored\n")
            .expect("parse");
        assert_eq!(file.len(), 3);
        let alice = file.lookup("t1").expect("alice");
        assert_eq!(alice.name, "alice");
        assert_eq!(alice.uid, "u1");
        assert_eq!(alice.groups, ["dev", "ops", GROUP_AUTHENTICATED]);
        assert_eq!(
            file.lookup("t2").expect("bob").groups,
            [GROUP_AUTHENTICATED]
        );
        assert_eq!(
            file.lookup("t3").expect("carol").groups,
            ["admins", GROUP_AUTHENTICATED]
        );
        assert!(file.lookup("t4").is_none());
        assert_eq!(file.admin_token(), None);
    }

    #[test]
    fn bad_records_name_their_line() {
        let err = parse("t1,alice,u1\nt2,bob\n").expect_err("error");
        assert!(
            matches!(err, TokenFileError::Invalid { line: 2, .. }),
            "{err}"
        );
        let err = parse(",alice,u1\n").expect_err("error");
        assert!(err.to_string().contains("empty token"), "{err}");
        let err = parse("a b,alice,u1\n").expect_err("error");
        assert!(err.to_string().contains("spaces"), "{err}");
    }

    #[test]
    fn creates_an_admin_token_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.csv");
        let first = TokenFile::load_or_create(&path).expect("create");
        let token = first.admin_token().expect("admin token").to_owned();
        assert_eq!(token.len(), 64);
        let admin = first.lookup(&token).expect("admin");
        assert_eq!(admin.name, ADMIN_USER);
        assert!(admin.in_group(GROUP_MASTERS));
        let again = TokenFile::load_or_create(&path).expect("load");
        assert_eq!(again.admin_token(), Some(token.as_str()));
    }
}
