//! One optional TOML file per long-running role (`node`, `prover`, `proposer`, `pricing-server`,
//! `sandbox`): `--config FILE` or `EPOCH_RFQ_CONFIG=FILE`.
//!
//! The file is flat: each key is one of the role's options, named either by its long flag
//! (`http-addr`, `l1-rpc-url`) or by its environment variable (`NODE_HTTP_ADDR`,
//! `ETHEREUM_HOSTS`). Values are TOML strings, integers, floats, booleans, or arrays for options
//! that take several values. The file's values become the options' defaults before the command
//! line is parsed, so the order of precedence is: default < file < environment < flag, and every
//! value goes through the same parser as on the command line.
//!
//! A key that is no option of the role is an error naming the key and the file (a typo must not
//! silently leave a setting at its default). Keys are never read from a file: the raw key
//! variables (`…_PRIVATE_KEY`) are not options, so they are unknown keys too.
//!
//! `--print-config` prints the effective settings as a TOML file that can be loaded again, each
//! line saying where its value came from, with URL credentials (`user:pass@`) redacted.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Command, CommandFactory, FromArgMatches};

/// The environment variable naming the config file (same as `--config`).
pub const CONFIG_ENV: &str = "EPOCH_RFQ_CONFIG";

/// The subcommands that read a config file.
pub const ROLES: [&str; 5] = ["node", "prover", "proposer", "pricing-server", "sandbox"];

const CONFIG_ID: &str = "epoch_rfq_config_file";
const PRINT_ID: &str = "epoch_rfq_print_config";

/// Why a config file cannot be used; every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file cannot be read.
    #[error("cannot read the config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML.
    #[error("the config file {path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A key that is not an option of the role.
    #[error(
        "unknown key `{key}` in the config file {path}: `epoch-rfq {role}` has no option with that \
         long name or environment variable{hint} (see `epoch-rfq {role} --help`)"
    )]
    UnknownKey {
        /// The key.
        key: String,
        /// The file.
        path: PathBuf,
        /// The subcommand.
        role: String,
        /// A note for keys that are known to be refused on purpose.
        hint: &'static str,
    },
    /// A value of a type the option cannot take.
    #[error("key `{key}` in the config file {path}: {message}")]
    BadValue {
        /// The key.
        key: String,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Two keys set the same option.
    #[error(
        "keys `{first}` and `{second}` in the config file {path} set the same option: keep one"
    )]
    Duplicate {
        /// The first key.
        first: String,
        /// The second key.
        second: String,
        /// The file.
        path: PathBuf,
    },
}

/// What the file set: option id → (key used, values), plus the file's path.
#[derive(Debug, Default)]
struct Applied {
    path: Option<PathBuf>,
    by_id: BTreeMap<String, (String, Vec<String>)>,
}

/// Adds `--config` and `--print-config` to every role subcommand of `cmd`.
pub fn augment(mut cmd: Command) -> Command {
    for role in ROLES {
        if cmd.find_subcommand(role).is_none() {
            continue;
        }
        cmd = cmd.mut_subcommand(role, |sub| {
            sub.arg(
                Arg::new(CONFIG_ID)
                    .long("config")
                    .env(CONFIG_ENV)
                    .value_name("FILE")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help(
                        "TOML file of settings: keys are option long names or env names; \
                         env vars and flags override it",
                    ),
            )
            .arg(
                Arg::new(PRINT_ID)
                    .long("print-config")
                    .action(clap::ArgAction::SetTrue)
                    .help(
                        "Print the effective settings (secrets redacted) and where each came \
                         from, then exit",
                    ),
            )
        });
    }
    cmd
}

/// Parses the process's command line into `T` with the role's config file applied; prints the
/// effective configuration and exits for `--print-config`; prints the error and exits for bad
/// input (like `Parser::parse`).
pub fn parse_or_exit<T: CommandFactory + FromArgMatches>() -> T {
    let argv: Vec<OsString> = std::env::args_os().collect();
    match parse_from(T::command(), argv) {
        Ok(Parsed::Run(matches)) => match T::from_arg_matches(&matches) {
            Ok(value) => value,
            Err(err) => err.exit(),
        },
        Ok(Parsed::Printed(text)) => {
            print!("{text}");
            std::process::exit(0);
        }
        Err(ParseError::Clap(err)) => err.exit(),
        Err(ParseError::File(err)) => {
            eprintln!("error: {err}");
            std::process::exit(2);
        }
        Err(ParseError::FileValue { key, path, err }) => {
            eprintln!("error: key `{key}` in the config file {}:", path.display());
            let _ = err.print();
            std::process::exit(2);
        }
    }
}

/// The outcome of [`parse_from`].
#[derive(Debug)]
pub enum Parsed {
    /// Run with these matches.
    Run(ArgMatches),
    /// `--print-config` was given: this text is the effective configuration.
    Printed(String),
}

/// Why the command line (with its config file) cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The command line itself (or help/version output).
    #[error("{0}")]
    Clap(clap::Error),
    /// The config file.
    #[error(transparent)]
    File(#[from] ConfigFileError),
    /// A value from the config file that the option's parser refused.
    #[error("key `{key}` in the config file {}: {err}", path.display())]
    FileValue {
        /// The key.
        key: String,
        /// The file.
        path: PathBuf,
        /// The parser's error.
        err: clap::Error,
    },
}

/// [`parse_or_exit`] without the exits, for an explicit argv (`argv[0]` is the binary name).
pub fn parse_from(cmd: Command, argv: Vec<OsString>) -> Result<Parsed, ParseError> {
    let cmd = augment(cmd);
    let (cmd, applied) = apply_config_file(cmd, &argv)?;
    let matches = match cmd.clone().try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(err) => return Err(blame_file(err, &cmd, &applied, &argv)),
    };
    if let Some((role, sub)) = matches.subcommand()
        && ROLES.contains(&role)
        && sub.get_flag(PRINT_ID)
    {
        let sub_cmd = cmd.find_subcommand(role).unwrap_or(&cmd);
        return Ok(Parsed::Printed(render(role, sub_cmd, sub, &applied)));
    }
    Ok(Parsed::Run(matches))
}

/// Finds the role and its config file with a lenient first parse, reads the file, and turns
/// its entries into the options' defaults.
fn apply_config_file(
    cmd: Command,
    argv: &[OsString],
) -> Result<(Command, Applied), ConfigFileError> {
    let Ok(pre) = cmd.clone().ignore_errors(true).try_get_matches_from(argv) else {
        // --help, --version, or an error the real parse reports.
        return Ok((cmd, Applied::default()));
    };
    let Some((role, sub)) = pre.subcommand() else {
        return Ok((cmd, Applied::default()));
    };
    if !ROLES.contains(&role) {
        return Ok((cmd, Applied::default()));
    }
    let Some(path) = sub
        .try_get_one::<PathBuf>(CONFIG_ID)
        .ok()
        .flatten()
        .cloned()
    else {
        return Ok((cmd, Applied::default()));
    };
    let role = role.to_owned();
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigFileError::Read {
        path: path.clone(),
        source,
    })?;
    let Some(sub_cmd) = cmd.find_subcommand(&role) else {
        return Ok((cmd, Applied::default()));
    };
    let by_id = entries(&text, &path, &role, sub_cmd)?;
    let mut cmd = cmd;
    for (id, (_, values)) in &by_id {
        // clap keeps defaults as `&'static str` without its `string` feature; the file is read
        // once per process, so its few values are leaked rather than pulling in that feature.
        let values: Vec<&'static str> = values
            .iter()
            .map(|v| &*Box::leak(v.clone().into_boxed_str()))
            .collect();
        let id = id.clone();
        cmd = cmd.mut_subcommand(&role, move |sub| {
            sub.mut_arg(id, move |arg| arg.default_values(values).required(false))
        });
    }
    Ok((
        cmd,
        Applied {
            path: Some(path),
            by_id,
        },
    ))
}

/// The file's entries mapped onto `sub`'s options: id → (key, values).
fn entries(
    text: &str,
    path: &Path,
    role: &str,
    sub: &Command,
) -> Result<BTreeMap<String, (String, Vec<String>)>, ConfigFileError> {
    let doc: toml_edit::Document<String> =
        text.parse()
            .map_err(|e: toml_edit::TomlError| ConfigFileError::Syntax {
                path: path.to_owned(),
                message: e.to_string().trim_end().to_owned(),
            })?;
    let mut by_id: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for (key, item) in doc.as_table().iter() {
        let bad = |message: String| ConfigFileError::BadValue {
            key: key.to_owned(),
            path: path.to_owned(),
            message,
        };
        if item.is_table() || item.is_array_of_tables() {
            return Err(bad(
                "sections are not supported: the file is flat, one `option = value` per line, \
                 not a table"
                    .to_owned(),
            ));
        }
        let Some(arg) = settable_args(sub).find(|arg| {
            arg.get_long() == Some(key) || arg.get_env().and_then(|e| e.to_str()) == Some(key)
        }) else {
            let hint = if key.ends_with("PRIVATE_KEY") || key.contains("private-key") {
                ": keys are read only from the environment or a keystore file"
            } else if key == "config" || key == CONFIG_ENV || key == "print-config" {
                ": a config file cannot name another"
            } else {
                ""
            };
            return Err(ConfigFileError::UnknownKey {
                key: key.to_owned(),
                path: path.to_owned(),
                role: role.to_owned(),
                hint,
            });
        };
        let value = item.as_value().ok_or_else(|| {
            bad("expected a value (string, number, boolean or array), not a table".to_owned())
        })?;
        let values = match value.as_array() {
            Some(array) => {
                let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1)
                    || arg.get_value_delimiter().is_some()
                    || matches!(arg.get_action(), clap::ArgAction::Append);
                if !many {
                    return Err(bad(format!("`{key}` takes one value, not an array")));
                }
                array
                    .iter()
                    .map(scalar)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(bad)?
            }
            None => vec![scalar(value).map_err(bad)?],
        };
        let id = arg.get_id().as_str().to_owned();
        if let Some((first, _)) = by_id.get(&id) {
            return Err(ConfigFileError::Duplicate {
                first: first.clone(),
                second: key.to_owned(),
                path: path.to_owned(),
            });
        }
        by_id.insert(id, (key.to_owned(), values));
    }
    Ok(by_id)
}

/// A TOML scalar as the text a flag would carry.
fn scalar(value: &toml_edit::Value) -> Result<String, String> {
    if let Some(s) = value.as_str() {
        Ok(s.to_owned())
    } else if let Some(i) = value.as_integer() {
        Ok(i.to_string())
    } else if let Some(f) = value.as_float() {
        Ok(f.to_string())
    } else if let Some(b) = value.as_bool() {
        Ok(b.to_string())
    } else {
        Err(format!(
            "a {} is not a setting's value (use a string, number or boolean)",
            value.type_name()
        ))
    }
}

/// The options a file may set: named ones other than help, version and the config options.
fn settable_args(sub: &Command) -> impl Iterator<Item = &Arg> {
    sub.get_arguments().filter(|arg| {
        let id = arg.get_id().as_str();
        arg.get_long().is_some() && !matches!(id, "help" | "version" | CONFIG_ID | PRINT_ID)
    })
}

/// A value error about an option set only by the file is reported as the file's.
fn blame_file(err: clap::Error, cmd: &Command, applied: &Applied, argv: &[OsString]) -> ParseError {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let (Some(path), true) = (
        applied.path.clone(),
        matches!(
            err.kind(),
            ErrorKind::InvalidValue | ErrorKind::ValueValidation
        ),
    ) else {
        return ParseError::Clap(err);
    };
    let Some(ContextValue::String(shown)) = err.get(ContextKind::InvalidArg) else {
        return ParseError::Clap(err);
    };
    let role_args: Vec<&Arg> = ROLES
        .iter()
        .filter_map(|role| cmd.find_subcommand(role))
        .flat_map(settable_args)
        .collect();
    for (id, (key, _)) in &applied.by_id {
        let Some(arg) = role_args.iter().find(|a| a.get_id().as_str() == id) else {
            continue;
        };
        let Some(long) = arg.get_long() else { continue };
        let flag = format!("--{long}");
        let named = shown == &flag || shown.starts_with(&format!("{flag} "));
        let on_command_line = argv.iter().any(|a| {
            a.to_str()
                .is_some_and(|a| a == flag || a.starts_with(&format!("{flag}=")))
        });
        let from_env = arg
            .get_env()
            .is_some_and(|name| std::env::var_os(name).is_some());
        if named && !on_command_line && !from_env {
            return ParseError::FileValue {
                key: key.clone(),
                path,
                err,
            };
        }
    }
    ParseError::Clap(err)
}

/// `--print-config`'s text: a TOML file of the effective settings.
fn render(role: &str, sub_cmd: &Command, sub: &ArgMatches, applied: &Applied) -> String {
    let mut out = format!("# Effective settings of `epoch-rfq {role}`");
    match &applied.path {
        Some(path) => out.push_str(&format!(" (config file {})\n", path.display())),
        None => out.push_str(" (no config file)\n"),
    }
    out.push_str("# Keys are option long names; each comment says where the value came from.\n");
    // By name: applying the file reorders clap's list, and a sorted file is easy to diff.
    let key_role = match role {
        "prover" => Some(crate::keys::KeyRole::Prover),
        "proposer" => Some(crate::keys::KeyRole::Proposer),
        _ => None,
    };
    let mut args: Vec<&Arg> = settable_args(sub_cmd).collect();
    args.sort_by_key(|arg| arg.get_long());
    for arg in args {
        let id = arg.get_id().as_str();
        let Some(long) = arg.get_long() else { continue };
        // The key options' variables depend on the role and are read when the key is loaded
        // (see `keys::KeyArgs`), not by clap.
        let key_env = key_role.and_then(|r| match id {
            "keystore" => Some(r.keystore_env()),
            "password_file" => Some(r.password_file_env()),
            _ => None,
        });
        let env = arg.get_env().and_then(|e| e.to_str()).or(key_env);
        if let (Some(var), None) = (key_env, sub.value_source(id))
            && let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty())
        {
            let value = toml_string(&value.to_string_lossy());
            out.push_str(&format!("{long} = {value}  # env {var}\n"));
            continue;
        }
        let from_env = sub.value_source(id) == Some(ValueSource::EnvVariable);
        let env_note = match env {
            Some(e) if !from_env => format!(", env {e}"),
            _ => String::new(),
        };
        let values: Option<Vec<String>> = sub
            .try_get_raw(id)
            .ok()
            .flatten()
            .map(|raw| raw.map(|v| redact(&v.to_string_lossy())).collect());
        let source = match sub.value_source(id) {
            Some(ValueSource::CommandLine) => "flag".to_owned(),
            Some(ValueSource::EnvVariable) => format!("env {}", env.unwrap_or("?")),
            Some(ValueSource::DefaultValue) => match applied.by_id.get(id) {
                Some((key, _)) => format!("file (key `{key}`)"),
                None => "default".to_owned(),
            },
            _ => "not set".to_owned(),
        };
        match values {
            Some(values) if !values.is_empty() => {
                let many = values.len() > 1
                    || arg.get_value_delimiter().is_some()
                    || matches!(arg.get_action(), clap::ArgAction::Append);
                let rendered = if many {
                    let items: Vec<String> = values.iter().map(|v| toml_string(v)).collect();
                    format!("[{}]", items.join(", "))
                } else {
                    toml_string(&values[0])
                };
                out.push_str(&format!("{long} = {rendered}  # {source}{env_note}\n"));
            }
            _ => out.push_str(&format!("# {long}: not set{env_note}\n")),
        }
    }
    if let Some(key_role) = key_role {
        let var = key_role.key_env();
        let state = if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
            "set (value redacted)"
        } else {
            "not set"
        };
        out.push_str(&format!("# signing key: env {var} {state}\n"));
    }
    out
}

/// `value` with the credentials of any URL in it (`scheme://user:pass@host`) replaced; lists
/// separated by commas are handled entry by entry.
pub fn redact(value: &str) -> String {
    value
        .split(',')
        .map(|part| {
            let Some(scheme_end) = part.find("://") else {
                return part.to_owned();
            };
            let rest = &part[scheme_end + 3..];
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{}://<redacted>@{}", &part[..scheme_end], &rest[at + 1..]),
                None => part.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_redacted() {
        assert_eq!(
            redact("https://alice:s3cret@rpc.example/v1?k=1"),
            "https://<redacted>@rpc.example/v1?k=1"
        );
        assert_eq!(
            redact("ws://a:1, https://tok@b/x"),
            "ws://a:1, https://<redacted>@b/x"
        );
        assert_eq!(redact("http://127.0.0.1:8545"), "http://127.0.0.1:8545");
        // An @ in the path is not userinfo.
        assert_eq!(redact("http://h/p@q"), "http://h/p@q");
        assert_eq!(redact("plain"), "plain");
    }

    #[test]
    fn toml_strings_round_trip() {
        let s = "a \"quoted\" \\ path\n";
        let doc: toml_edit::Document<String> = format!("k = {}", toml_string(s))
            .parse()
            .expect("valid TOML");
        assert_eq!(doc.as_table()["k"].as_str(), Some(s));
    }
}
