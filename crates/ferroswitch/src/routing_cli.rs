//! `ferroswitch route|gateway|group|local-plan|cdr ...`: operator commands over the routing
//! tables (`dialing_plan`, `gateways`, `ring_groups`, `local_dialing_plan`) and the CDRs.
//!
//! Everything typed here is validated before it reaches the database: actions with the
//! `dialplan` crate's parser (and stored in its canonical form), gateway addresses as socket
//! addresses, logins as SIP user parts. Errors say what is wrong and what would be right.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};

use anyhow::{bail, Context as _};
use clap::{Subcommand, ValueEnum};
use ferroswitch_config::Config;
use store::{CdrRow, GatewayRow, LocalPlanRow, NewPlanEntry, RingGroupRow, Store};

use crate::accounts::{check_login, open_store};

/// `ferroswitch route ...`: the dialing plan.
#[derive(Debug, Subcommand)]
pub(crate) enum RouteCommand {
    /// Add a dialing-plan entry: numbers starting with PREFIX ("" for every number) get ACTION.
    ///
    /// ACTION is one of: user-lookup | gateway:GW1,GW2 [strip=N] [prepend=DIGITS] |
    /// service:SIP-URI | voicemail:SIP-URI | ring-group:LOGIN | reject:CODE. It may be quoted
    /// or given as several words (`gateway:gw1 strip=2`).
    Add {
        /// Leading part of the routed number; the longest matching prefix wins.
        prefix: String,
        /// What to do with matching calls.
        #[arg(required = true, num_args = 1..)]
        action: Vec<String>,
        /// Among entries with the same prefix, lower is tried first.
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        priority: i32,
        /// Free text shown by `route list`.
        #[arg(long)]
        description: Option<String>,
    },
    /// List the dialing plan (by prefix, then priority).
    List,
    /// Delete the entry with this id (see `route list`).
    Del { id: i64 },
}

/// `ferroswitch gateway ...`: OFFNET gateways.
#[derive(Debug, Subcommand)]
pub(crate) enum GatewayCommand {
    /// Add a gateway, or replace the one with this name.
    Add {
        /// The name `gateway:` actions use (letters, digits, `.`, `_`, `-`).
        name: String,
        /// IP address and port (192.0.2.10:5060, [2001:db8::10]:5060), or a DNS name with
        /// or without a port (carrier.example, gw.carrier.example:5060): without a port the
        /// name is located by RFC 3263 (NAPTR, SRV, A/AAAA).
        address: String,
        #[arg(long, value_enum, default_value_t = GatewayTransport::Udp)]
        transport: GatewayTransport,
        /// Replaces the From user part of calls sent through this gateway.
        #[arg(long)]
        caller_id: Option<String>,
        /// Store it disabled (calls skip it).
        #[arg(long)]
        disabled: bool,
    },
    /// List gateways.
    List,
    /// Delete a gateway.
    Del { name: String },
}

/// How a gateway is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GatewayTransport {
    Udp,
    Tcp,
    Tls,
    /// Chosen by the name's NAPTR records (RFC 3263 §4.1).
    Auto,
}

impl GatewayTransport {
    fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Auto => "auto",
        }
    }
}

/// `ferroswitch group ...`: ring groups.
#[derive(Debug, Subcommand)]
pub(crate) enum GroupCommand {
    /// Add a ring group, or replace the one with this login.
    Add {
        /// The group's callable login (what `ring-group:LOGIN` names).
        login: String,
        /// Member logins, comma-separated, in ringing order.
        #[arg(long, value_delimiter = ',', required = true, num_args = 1..)]
        members: Vec<String>,
        /// 0 rings every member at once; otherwise one more member every SECS seconds.
        #[arg(long, value_name = "SECS", default_value_t = 0)]
        step_delay: u32,
        /// With a step delay, ring at most N members (0 = all).
        #[arg(long, value_name = "N", default_value_t = 0)]
        max_steps: u32,
    },
    /// List ring groups.
    List,
    /// Delete a ring group.
    Del { login: String },
}

/// `ferroswitch local-plan ...`: the local dialing plan softphones download.
#[derive(Debug, Subcommand)]
pub(crate) enum LocalPlanCommand {
    /// Map a number prefix to the SIP server its softphones use (replaces an existing prefix).
    Add {
        prefix: String,
        /// Host name or IP address, optionally with `:port` (sip1.company.com, 192.0.2.5:5060).
        server: String,
    },
    /// List the local dialing plan.
    List,
    /// Delete a prefix.
    Del { prefix: String },
}

/// `ferroswitch cdr ...`: call detail records.
#[derive(Debug, Subcommand)]
pub(crate) enum CdrCommand {
    /// Show the latest call attempts, newest first.
    List {
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

/// One of the commands of this module.
#[derive(Debug)]
pub(crate) enum RoutingCommand {
    Route(RouteCommand),
    Gateway(GatewayCommand),
    Group(GroupCommand),
    LocalPlan(LocalPlanCommand),
    Cdr(CdrCommand),
}

pub(crate) async fn run(config: &Config, cmd: RoutingCommand) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let result = match cmd {
        RoutingCommand::Route(cmd) => route(&store, cmd).await,
        RoutingCommand::Gateway(cmd) => gateway(&store, cmd).await,
        RoutingCommand::Group(cmd) => group(&store, cmd).await,
        RoutingCommand::LocalPlan(cmd) => local_plan(&store, cmd).await,
        RoutingCommand::Cdr(cmd) => cdr(&store, cmd).await,
    };
    store.close().await;
    result
}

pub(crate) const ACTION_FORMS: &str = "user-lookup, \"gateway:GW1,GW2 strip=N prepend=DIGITS\", \
     service:sip:USER@HOST[:PORT], voicemail:sip:USER@HOST[:PORT], ring-group:LOGIN or reject:CODE";

async fn route(store: &Store, cmd: RouteCommand) -> anyhow::Result<()> {
    match cmd {
        RouteCommand::Add {
            prefix,
            action,
            priority,
            description,
        } => {
            check_prefix(&prefix)?;
            let text = action.join(" ");
            let action: dialplan::Action = text.parse().map_err(|e| {
                anyhow::anyhow!("bad ACTION {text:?}: {e}; expected one of {ACTION_FORMS}")
            })?;
            let description = description.filter(|d| !d.is_empty());
            warn_unknown_targets(store, &action).await?;
            let id = store
                .add_plan_entry(&NewPlanEntry {
                    prefix: prefix.clone(),
                    priority,
                    // canonical form: what `route list` shows and the loader reads back
                    action: action.to_string(),
                    description,
                })
                .await?;
            println!(
                "added route {id}: prefix {} priority {priority} -> {action}",
                show_prefix(&prefix)
            );
        }
        RouteCommand::List => {
            let plan = store.list_dial_plan().await?;
            let rows = plan
                .iter()
                .map(|e| {
                    vec![
                        e.id.to_string(),
                        show_prefix(&e.prefix),
                        e.priority.to_string(),
                        e.action.clone(),
                        e.description.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            print_table(&["id", "prefix", "priority", "action", "description"], rows)?;
            println!("{} route(s)", plan.len());
        }
        RouteCommand::Del { id } => {
            if !store.delete_plan_entry(id).await? {
                bail!("no route with id {id}; `ferroswitch route list` shows the ids");
            }
            println!("deleted route {id}");
        }
    }
    Ok(())
}

/// Warns (does not fail: the operator may add them next) when an action names gateways or a
/// ring group that do not exist yet.
async fn warn_unknown_targets(store: &Store, action: &dialplan::Action) -> anyhow::Result<()> {
    match action {
        dialplan::Action::Gateway { gateways, .. } => {
            let known = store.list_gateways().await?;
            for name in gateways {
                if !known.iter().any(|g| &g.name == name) {
                    eprintln!(
                        "warning: gateway {name:?} is not defined yet; add it with \
                         `ferroswitch gateway add {name} IP:PORT`"
                    );
                }
            }
        }
        dialplan::Action::RingGroup { group } => {
            let known = store.list_ring_groups().await?;
            if !known.iter().any(|g| &g.login == group) {
                eprintln!(
                    "warning: ring group {group:?} is not defined yet; add it with \
                     `ferroswitch group add {group} --members LOGIN,LOGIN`"
                );
            }
        }
        _ => {}
    }
    Ok(())
}

async fn gateway(store: &Store, cmd: GatewayCommand) -> anyhow::Result<()> {
    match cmd {
        GatewayCommand::Add {
            name,
            address,
            transport,
            caller_id,
            disabled,
        } => {
            check_gateway_name(&name)?;
            let addr = parse_gateway_address(&address)?;
            if let Some(c) = &caller_id {
                check_login(c).context("--caller-id")?;
            }
            let row = GatewayRow {
                name: name.clone(),
                address: addr.to_string(),
                transport: transport.as_str().to_owned(),
                caller_id,
                enabled: !disabled,
            };
            store.upsert_gateway(&row).await?;
            println!(
                "gateway {name}: {} {}{}{}",
                row.transport,
                row.address,
                row.caller_id
                    .as_deref()
                    .map(|c| format!(", caller ID {c}"))
                    .unwrap_or_default(),
                if row.enabled { "" } else { ", disabled" }
            );
        }
        GatewayCommand::List => {
            let gateways = store.list_gateways().await?;
            let rows = gateways
                .iter()
                .map(|g| {
                    vec![
                        g.name.clone(),
                        g.address.clone(),
                        g.transport.clone(),
                        g.caller_id.clone().unwrap_or_default(),
                        yes_no(g.enabled).to_owned(),
                    ]
                })
                .collect();
            print_table(
                &["name", "address", "transport", "caller id", "enabled"],
                rows,
            )?;
            println!("{} gateway(s)", gateways.len());
        }
        GatewayCommand::Del { name } => {
            if !store.delete_gateway(&name).await? {
                bail!("no gateway {name:?}; `ferroswitch gateway list` shows them");
            }
            let still_used = store
                .list_dial_plan()
                .await?
                .into_iter()
                .filter(|e| {
                    matches!(e.action.parse(), Ok(dialplan::Action::Gateway { gateways, .. })
                        if gateways.contains(&name))
                })
                .map(|e| e.id.to_string())
                .collect::<Vec<_>>();
            println!("deleted gateway {name}");
            if !still_used.is_empty() {
                eprintln!(
                    "warning: route(s) {} still name gateway {name:?}",
                    still_used.join(", ")
                );
            }
        }
    }
    Ok(())
}

async fn group(store: &Store, cmd: GroupCommand) -> anyhow::Result<()> {
    match cmd {
        GroupCommand::Add {
            login,
            members,
            step_delay,
            max_steps,
        } => {
            check_login(&login)?;
            let members: Vec<String> = members.iter().map(|m| m.trim().to_owned()).collect();
            for m in &members {
                check_login(m).with_context(|| format!("--members: member {m:?}"))?;
            }
            let row = RingGroupRow {
                login: login.clone(),
                members,
                step_delay_s: step_delay,
                max_steps,
            };
            store.upsert_ring_group(&row).await?;
            if store.get_account(&login).await?.is_some() {
                eprintln!(
                    "warning: {login:?} is also an account login; calls to it ring the group \
                     or the account depending on the dialing plan"
                );
            }
            for m in &row.members {
                if store.get_account(m).await?.is_none() {
                    eprintln!("warning: member {m:?} is not an account");
                }
            }
            println!(
                "ring group {login}: {} ({})",
                row.members.join(", "),
                ringing_mode(&row)
            );
        }
        GroupCommand::List => {
            let groups = store.list_ring_groups().await?;
            let rows = groups
                .iter()
                .map(|g| {
                    vec![
                        g.login.clone(),
                        g.members.join(","),
                        g.step_delay_s.to_string(),
                        g.max_steps.to_string(),
                        ringing_mode(g),
                    ]
                })
                .collect();
            print_table(
                &["login", "members", "step delay s", "max steps", "mode"],
                rows,
            )?;
            println!("{} group(s)", groups.len());
        }
        GroupCommand::Del { login } => {
            if !store.delete_ring_group(&login).await? {
                bail!("no ring group {login:?}; `ferroswitch group list` shows them");
            }
            println!("deleted ring group {login}");
        }
    }
    Ok(())
}

fn ringing_mode(g: &RingGroupRow) -> String {
    match (g.step_delay_s, g.max_steps) {
        (0, _) => "all at once".to_owned(),
        (s, 0) => format!("one more every {s} s"),
        (s, n) => format!("one more every {s} s, at most {n}"),
    }
}

async fn local_plan(store: &Store, cmd: LocalPlanCommand) -> anyhow::Result<()> {
    match cmd {
        LocalPlanCommand::Add { prefix, server } => {
            check_prefix(&prefix)?;
            check_server(&server)?;
            store
                .add_local_plan(&LocalPlanRow {
                    prefix: prefix.clone(),
                    server: server.clone(),
                })
                .await?;
            println!("local plan: {} -> {server}", show_prefix(&prefix));
        }
        LocalPlanCommand::List => {
            let plan = store.list_local_plan().await?;
            let rows = plan
                .iter()
                .map(|r| vec![show_prefix(&r.prefix), r.server.clone()])
                .collect();
            print_table(&["prefix", "server"], rows)?;
            println!("{} prefix(es)", plan.len());
        }
        LocalPlanCommand::Del { prefix } => {
            if !store.delete_local_plan(&prefix).await? {
                bail!(
                    "prefix {prefix:?} is not in the local plan; `ferroswitch local-plan list` \
                     shows it"
                );
            }
            println!("deleted local plan prefix {}", show_prefix(&prefix));
        }
    }
    Ok(())
}

async fn cdr(store: &Store, cmd: CdrCommand) -> anyhow::Result<()> {
    match cmd {
        CdrCommand::List { limit } => {
            let cdrs = store.list_cdrs(limit).await?;
            let rows = cdrs.iter().map(cdr_cells).collect();
            print_table(
                &[
                    "start (UTC)",
                    "caller",
                    "callee",
                    "dialed",
                    "route",
                    "code",
                    "duration s",
                    "hangup by",
                ],
                rows,
            )?;
            println!("{} call(s)", cdrs.len());
        }
    }
    Ok(())
}

fn cdr_cells(c: &CdrRow) -> Vec<String> {
    let route = match &c.gateway {
        // the route names the gateway list; show the one that carried the call
        Some(g) if !c.route.contains(g.as_str()) => format!("{} via {g}", c.route),
        _ => c.route.clone(),
    };
    vec![
        utc_datetime(c.start_ms),
        c.caller.clone(),
        c.callee.clone(),
        c.dialed.clone(),
        route,
        c.final_code.to_string(),
        format!("{}.{}", c.duration_ms / 1000, (c.duration_ms % 1000) / 100),
        c.hangup_by.clone(),
    ]
}

/// `YYYY-MM-DD HH:MM:SS` in UTC for epoch milliseconds (proleptic Gregorian calendar).
pub(crate) fn utc_datetime(epoch_ms: i64) -> String {
    let secs = epoch_ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // days since 1970-01-01 -> civil date (H. Hinnant's `civil_from_days`)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// How a prefix is shown: `""` (matches every number) is shown as `(any)`.
fn show_prefix(prefix: &str) -> String {
    if prefix.is_empty() {
        "(any)".to_owned()
    } else {
        prefix.to_owned()
    }
}

/// Prints left-aligned columns as wide as their widest cell (in characters).
pub(crate) fn print_table(headers: &[&str], rows: Vec<Vec<String>>) -> std::io::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    let line = |out: &mut std::io::StdoutLock<'_>, cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            let pad = w.saturating_sub(cell.chars().count());
            text.extend(std::iter::repeat_n(' ', pad));
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(&mut out, &mut headers.iter().copied())?;
    for row in &rows {
        line(&mut out, &mut row.iter().map(String::as_str))?;
    }
    Ok(())
}

/// A plan prefix: at most 64 printable ASCII characters, no spaces (`""` is allowed: it
/// matches every number).
pub(crate) fn check_prefix(prefix: &str) -> anyhow::Result<()> {
    if prefix.len() > store::limits::PREFIX {
        bail!(
            "prefix {prefix:?} is {} characters long, at most {} are allowed",
            prefix.chars().count(),
            store::limits::PREFIX
        );
    }
    if let Some(c) = prefix.chars().find(|c| !c.is_ascii_graphic()) {
        bail!(
            "prefix {prefix:?} contains {c:?}; a prefix is the leading part of a number or \
             login, in printable ASCII without spaces (4860, +44, onnet, int)"
        );
    }
    Ok(())
}

pub(crate) fn check_gateway_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= store::limits::GATEWAY_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok {
        bail!(
            "gateway name {name:?} is not valid: use 1 to {} letters, digits, `.`, `_` or `-` \
             (it is listed in `gateway:` actions, separated by commas)",
            store::limits::GATEWAY_NAME
        );
    }
    Ok(())
}

/// `ip:port` or `[v6]:port`, port not 0; host names are not accepted (a gateway is a fixed
/// peer, and the SIP path does not wait on DNS).
/// A gateway address in its stored form: `ip:port`, `[v6]:port`, a DNS name, `name:port`.
pub(crate) fn parse_gateway_address(address: &str) -> anyhow::Result<String> {
    match sip_dns::Destination::parse(address, None) {
        Ok(d) if d.is_name() || d.port.is_some() => Ok(d.address()),
        Ok(_) => bail!(
            "gateway address {address:?} has no port; an IP address needs one \
             (192.0.2.10:5060, [2001:db8::10]:5060)"
        ),
        Err(sip_dns::AddressError::BadPort { port }) if port == "0" => bail!(
            "gateway address {address:?} has port 0; give the gateway's SIP port (usually 5060)"
        ),
        Err(e) => bail!(
            "gateway address {address:?}: {e}; write an IP address and port (192.0.2.10:5060, \
             [2001:db8::10]:5060) or a DNS name (carrier.example, gw.carrier.example:5060)"
        ),
    }
}

/// `host`, `host:port`, an IP address, `ip:port` or `[v6]:port`.
fn check_server(server: &str) -> anyhow::Result<()> {
    let bad = |why: &str| {
        anyhow::anyhow!(
            "server {server:?} {why}; give a host name or IP address, optionally with :port \
             (sip1.company.com, sip1.company.com:5060, 192.0.2.5, [2001:db8::5]:5060)"
        )
    };
    if server.len() > store::limits::SERVER {
        return Err(bad("is too long"));
    }
    if server.parse::<IpAddr>().is_ok() || server.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let (host, port) = match server.rsplit_once(':') {
        _ if server.starts_with('[') && server.ends_with(']') => (server, None),
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => (host, Some(port)),
        Some(_) => return Err(bad("is not a valid address")),
        None => (server, None),
    };
    if let Some(port) = port {
        if !matches!(port.parse::<u16>(), Ok(p) if p != 0) {
            return Err(bad("has a bad port"));
        }
    }
    sip_message::Host::parse(host).map_err(|_| bad("is not a valid host name"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_datetimes() {
        assert_eq!(utc_datetime(0), "1970-01-01 00:00:00");
        assert_eq!(utc_datetime(1_700_000_000_999), "2023-11-14 22:13:20");
        assert_eq!(utc_datetime(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc_datetime(4_107_542_399_000), "2100-02-28 23:59:59");
        assert_eq!(utc_datetime(-1_000), "1969-12-31 23:59:59");
    }

    #[test]
    fn servers() {
        for ok in [
            "sip1.company.com",
            "sip1.company.com:5060",
            "192.0.2.5",
            "192.0.2.5:5060",
            "[2001:db8::5]:5060",
            "[2001:db8::5]",
            "2001:db8::5",
        ] {
            check_server(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "sip one.com",
            "host:0",
            "host:x",
            "-host",
            "a:b:c",
            "sip:x@y",
        ] {
            let e = check_server(bad).expect_err(bad).to_string();
            assert!(e.contains("host name or IP address"), "{bad}: {e}");
        }
    }

    #[test]
    fn gateway_addresses() {
        assert_eq!(
            parse_gateway_address("[2001:db8::10]:5080")
                .unwrap()
                .to_string(),
            "[2001:db8::10]:5080"
        );
        assert_eq!(
            parse_gateway_address("GW.example.com:5060").unwrap(),
            "gw.example.com:5060"
        );
        assert_eq!(
            parse_gateway_address("carrier.example").unwrap(),
            "carrier.example"
        );
        let e = parse_gateway_address("192.0.2.1").unwrap_err().to_string();
        assert!(e.contains("no port"), "{e}");
        let e = parse_gateway_address("bad host").unwrap_err().to_string();
        assert!(e.contains("DNS name"), "{e}");
        let e = parse_gateway_address("192.0.2.1:0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("port 0"), "{e}");
    }

    #[test]
    fn prefixes_and_names() {
        check_prefix("").unwrap();
        check_prefix("+4860").unwrap();
        assert!(check_prefix("48 60")
            .unwrap_err()
            .to_string()
            .contains("' '"));
        assert!(check_prefix(&"1".repeat(65)).is_err());
        check_gateway_name("pl-1.a_b").unwrap();
        for bad in ["", "a,b", "a b", "a=b"] {
            assert!(check_gateway_name(bad).is_err(), "{bad}");
        }
    }
}
