//! What a dialing-plan entry does with a call, and its textual form for DB rows and config.

use std::fmt;
use std::str::FromStr;

/// What to do with a number that matched an [`Entry`](crate::Entry).
///
/// Textual form (what [`FromStr`] reads and [`Display`](fmt::Display) prints; the kind is
/// case-insensitive and may be followed by `:` or white space):
///
/// | text | action |
/// |---|---|
/// | `user-lookup` | [`Action::UserLookup`] |
/// | `gateway:gw1,gw2 strip=2 prepend=48` | [`Action::Gateway`] (`strip`, `prepend` optional, any order) |
/// | `service:sip:onnet950@10.0.0.5:5080` | [`Action::Service`] |
/// | `voicemail:sip:onnet950@10.0.0.5` | [`Action::Service`] with `voicemail: true` |
/// | `ring-group:sales` | [`Action::RingGroup`] |
/// | `reject:404` | [`Action::Reject`] (300..=699) |
///
/// ```
/// use dialplan::Action;
///
/// let a: Action = "gateway: gw1, gw2 prepend=48 strip=2".parse()?;
/// assert_eq!(
///     a,
///     Action::Gateway { gateways: vec!["gw1".into(), "gw2".into()], strip: 2, prepend: "48".into() }
/// );
/// assert_eq!(a.to_string(), "gateway:gw1,gw2 strip=2 prepend=48");
/// # Ok::<(), dialplan::ActionError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// ONNET: the number without the matched prefix ([`Route::rest`](crate::Route::rest)) is a
    /// login; look it up in the registrar and fork to its bindings.
    UserLookup,
    /// OFFNET: send to these gateways, tried in order (failover on timeout/5xx). The number
    /// sent is the routed number with its first `strip` characters removed and `prepend` put
    /// in front (see [`Route::target_number`](crate::Route::target_number)).
    Gateway {
        /// Gateway names, in failover order; never empty when parsed.
        gateways: Vec<String>,
        /// Leading characters removed from the full routed number.
        strip: usize,
        /// Text put in front after stripping (may be empty).
        prepend: String,
    },
    /// Send to a media server / service URI (voicemail, conference, announcements).
    Service {
        /// A `sip:` or `sips:` URI, e.g. `sip:onnet950@10.0.0.5:5080`.
        uri: String,
        /// Written as `voicemail:` rather than `service:` (same behaviour; kept for printing).
        voicemail: bool,
    },
    /// Ring a user group by its name.
    RingGroup {
        /// The group's name (a callable login).
        group: String,
    },
    /// Answer with this final status code (300..=699 when parsed).
    Reject {
        /// The SIP status code.
        code: u16,
    },
}

/// The range of codes [`Action::Reject`] accepts.
pub const REJECT_CODES: std::ops::RangeInclusive<u16> = 300..=699;

/// An action text that could not be parsed; each variant names the part that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// Nothing but white space.
    #[error("empty action (expected user-lookup, gateway:, service:, voicemail:, ring-group: or reject:)")]
    Empty,
    /// The word before `:` is not a known action.
    #[error("unknown action `{kind}` (expected user-lookup, gateway, service, voicemail, ring-group or reject)")]
    UnknownKind {
        /// What was written.
        kind: String,
    },
    /// The action needs an argument and has none (`gateway:`, `reject`).
    #[error("`{kind}` needs an argument")]
    MissingArgument {
        /// The action kind.
        kind: &'static str,
    },
    /// Text where none is allowed (`user-lookup:x`, `reject:404 486`).
    #[error("`{kind}`: unexpected `{found}`")]
    UnexpectedArgument {
        /// The action kind.
        kind: &'static str,
        /// The unexpected text.
        found: String,
    },
    /// An empty name in the gateway list (`gw1,,gw2`, trailing comma).
    #[error("gateway list `{list}` has an empty name")]
    EmptyGatewayName {
        /// The whole list as written.
        list: String,
    },
    /// A gateway name containing `=` (usually an option written where the list belongs,
    /// `gateway:strip=2`).
    #[error("gateway name `{name}` contains `=` (the list of names comes first: gateway:gw1,gw2 strip=N)")]
    BadGatewayName {
        /// The name as written.
        name: String,
    },
    /// A gateway option other than `strip=N` / `prepend=TEXT`.
    #[error("gateway: unknown option `{option}` (expected strip=N or prepend=TEXT)")]
    UnknownOption {
        /// The option as written.
        option: String,
    },
    /// The same gateway option twice.
    #[error("gateway: option `{key}` given twice")]
    DuplicateOption {
        /// `strip` or `prepend`.
        key: &'static str,
    },
    /// `strip=` with something other than a non-negative integer.
    #[error("gateway: strip=`{value}` is not a non-negative integer")]
    BadStrip {
        /// The value as written.
        value: String,
    },
    /// `prepend=` with nothing after it.
    #[error("gateway: prepend= needs a value (leave the option out to prepend nothing)")]
    EmptyPrepend,
    /// A service or voicemail URI that is not `sip:…` / `sips:…`.
    #[error("`{kind}`: `{uri}` is not a sip: or sips: URI")]
    BadUri {
        /// `service` or `voicemail`.
        kind: &'static str,
        /// The URI as written.
        uri: String,
    },
    /// A reject code that is not a number.
    #[error("reject: `{found}` is not a status code")]
    BadCode {
        /// The code as written.
        found: String,
    },
    /// A reject code outside 300..=699.
    #[error("reject: code {code} is not a final error or redirect (expected 300..=699)")]
    CodeOutOfRange {
        /// The code.
        code: u16,
    },
    /// A control character in a name, URI or prepend.
    #[error("`{kind}`: control character {ch:?} in `{text}`")]
    ControlChar {
        /// The action kind.
        kind: &'static str,
        /// The part containing it.
        text: String,
        /// The character.
        ch: char,
    },
}

const USER_LOOKUP: &str = "user-lookup";
const GATEWAY: &str = "gateway";
const SERVICE: &str = "service";
const VOICEMAIL: &str = "voicemail";
const RING_GROUP: &str = "ring-group";
const REJECT: &str = "reject";

impl FromStr for Action {
    type Err = ActionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ActionError::Empty);
        }
        let end = s
            .find(|c: char| c == ':' || c.is_whitespace())
            .unwrap_or(s.len());
        let (kind, rest) = s.split_at(end);
        let rest = rest.trim_start();
        let arg = rest.strip_prefix(':').unwrap_or(rest).trim();

        let kind = [USER_LOOKUP, GATEWAY, SERVICE, VOICEMAIL, RING_GROUP, REJECT]
            .into_iter()
            .find(|k| k.eq_ignore_ascii_case(kind))
            .ok_or_else(|| ActionError::UnknownKind {
                kind: kind.to_owned(),
            })?;
        if kind == USER_LOOKUP {
            return match arg {
                "" => Ok(Self::UserLookup),
                found => Err(ActionError::UnexpectedArgument {
                    kind,
                    found: found.to_owned(),
                }),
            };
        }
        if arg.is_empty() {
            return Err(ActionError::MissingArgument { kind });
        }
        if let Some(ch) = arg.chars().find(|c| c.is_control() && !c.is_whitespace()) {
            return Err(ActionError::ControlChar {
                kind,
                text: arg.to_owned(),
                ch,
            });
        }
        match kind {
            GATEWAY => parse_gateway(arg),
            SERVICE | VOICEMAIL => {
                let uri = single_token(kind, arg)?;
                let scheme_ok = uri.split_once(':').is_some_and(|(scheme, rest)| {
                    (scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips"))
                        && !rest.is_empty()
                });
                if !scheme_ok {
                    return Err(ActionError::BadUri {
                        kind,
                        uri: uri.to_owned(),
                    });
                }
                Ok(Self::Service {
                    uri: uri.to_owned(),
                    voicemail: kind == VOICEMAIL,
                })
            }
            RING_GROUP => Ok(Self::RingGroup {
                group: single_token(kind, arg)?.to_owned(),
            }),
            _ => {
                let code = single_token(kind, arg)?;
                let code = parse_digits::<u16>(code).ok_or_else(|| ActionError::BadCode {
                    found: code.to_owned(),
                })?;
                if !REJECT_CODES.contains(&code) {
                    return Err(ActionError::CodeOutOfRange { code });
                }
                Ok(Self::Reject { code })
            }
        }
    }
}

/// A plain decimal number: digits only (no sign, unlike `str::parse`).
fn parse_digits<T: FromStr>(text: &str) -> Option<T> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

/// `arg` is trimmed and non-empty.
fn single_token<'a>(kind: &'static str, arg: &'a str) -> Result<&'a str, ActionError> {
    match arg.split_once(char::is_whitespace) {
        None => Ok(arg),
        Some((_, extra)) => Err(ActionError::UnexpectedArgument {
            kind,
            found: extra.trim_start().to_owned(),
        }),
    }
}

/// `gw1,gw2 strip=2 prepend=48`; white space is allowed around the commas of the list.
fn parse_gateway(arg: &str) -> Result<Action, ActionError> {
    let mut tokens = arg.split_whitespace().peekable();
    let mut list = String::new();
    while let Some(t) = tokens.next() {
        list.push_str(t);
        let continues = t.ends_with(',') || tokens.peek().is_some_and(|next| next.starts_with(','));
        if !continues {
            break;
        }
    }
    let gateways: Vec<String> = list.split(',').map(str::to_owned).collect();
    if gateways.iter().any(String::is_empty) {
        return Err(ActionError::EmptyGatewayName { list });
    }
    if let Some(name) = gateways.iter().find(|g| g.contains('=')) {
        return Err(ActionError::BadGatewayName { name: name.clone() });
    }

    let mut strip = None;
    let mut prepend = None;
    for option in tokens {
        let (key, value) = option.split_once('=').unwrap_or((option, ""));
        if key.eq_ignore_ascii_case("strip") {
            if strip.is_some() {
                return Err(ActionError::DuplicateOption { key: "strip" });
            }
            strip = Some(
                parse_digits::<usize>(value).ok_or_else(|| ActionError::BadStrip {
                    value: value.to_owned(),
                })?,
            );
        } else if key.eq_ignore_ascii_case("prepend") {
            if prepend.is_some() {
                return Err(ActionError::DuplicateOption { key: "prepend" });
            }
            if value.is_empty() {
                return Err(ActionError::EmptyPrepend);
            }
            prepend = Some(value.to_owned());
        } else {
            return Err(ActionError::UnknownOption {
                option: option.to_owned(),
            });
        }
    }
    Ok(Action::Gateway {
        gateways,
        strip: strip.unwrap_or(0),
        prepend: prepend.unwrap_or_default(),
    })
}

impl fmt::Display for Action {
    /// The canonical form: lower-case kind, `:`, no optional white space; `strip=0` and an
    /// empty prepend are left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UserLookup => f.write_str(USER_LOOKUP),
            Self::Gateway {
                gateways,
                strip,
                prepend,
            } => {
                write!(f, "{GATEWAY}:{}", gateways.join(","))?;
                if *strip > 0 {
                    write!(f, " strip={strip}")?;
                }
                if !prepend.is_empty() {
                    write!(f, " prepend={prepend}")?;
                }
                Ok(())
            }
            Self::Service { uri, voicemail } => {
                let kind = if *voicemail { VOICEMAIL } else { SERVICE };
                write!(f, "{kind}:{uri}")
            }
            Self::RingGroup { group } => write!(f, "{RING_GROUP}:{group}"),
            Self::Reject { code } => write!(f, "{REJECT}:{code}"),
        }
    }
}
