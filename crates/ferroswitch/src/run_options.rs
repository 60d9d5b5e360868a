//! `ferroswitch run` options that override the config file's listeners and data directory for
//! one run, so a second instance (or a machine where a port is taken) needs no copy of the
//! config: `ferroswitch run --sip 7060 --tls 7061 --stun off --admin off --data-dir /tmp/fs2`;
//! `--shards N` sets how many core shards process SIP.
//!
//! Like Kamailio's `-l` the options replace what the file says; like clap's own values, a bad
//! one is refused before anything starts, naming the option and why.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::bail;
use ferroswitch_config::{
    parse_socket_addr, AdminSettings, Config, Origin, StunSettings, Transport,
};

/// Where a listener goes: a whole address, or only a port (the configured IP kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Addr(SocketAddr),
    Port(u16),
}

impl Place {
    fn apply(self, current: Option<SocketAddr>, default_ip: IpAddr) -> SocketAddr {
        match self {
            Self::Addr(a) => a,
            Self::Port(p) => SocketAddr::new(current.map_or(default_ip, |c| c.ip()), p),
        }
    }
}

/// `ADDR|PORT`: `7060`, `127.0.0.1:7060`, `[::1]:7060`.
fn parse_place(s: &str) -> Result<Place, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map(Place::Port).map_err(|_| {
            format!(
                "port {s} is out of range: a port is a number from 0 to 65535 (0 takes a free one)"
            )
        });
    }
    parse_socket_addr(s).map(Place::Addr)
}

/// A listener moved, or turned off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Switch {
    Off,
    At(Place),
}

/// `off|ADDR|PORT`.
fn parse_switch(s: &str) -> Result<Switch, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(Switch::Off);
    }
    parse_place(s).map(Switch::At)
}

/// The overrides `run` takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct RunOptions {
    /// Move the SIP UDP and TCP listeners: a port (keeps the configured IP) or IP:PORT.
    #[arg(long = "sip", value_name = "ADDR|PORT", value_parser = parse_place)]
    sip: Option<Place>,
    /// Move the SIP TLS listeners: a port or IP:PORT.
    #[arg(long = "tls", value_name = "ADDR|PORT", value_parser = parse_place)]
    tls: Option<Place>,
    /// Move the STUN listener (a port or IP:PORT), or turn it off.
    #[arg(long = "stun", value_name = "off|ADDR|PORT", value_parser = parse_switch)]
    stun: Option<Switch>,
    /// Move the admin API (a port or a loopback IP:PORT), or turn it off.
    #[arg(long = "admin", value_name = "off|ADDR|PORT", value_parser = parse_switch)]
    admin: Option<Switch>,
    /// Keep the SQLite database in this directory instead of the configured one.
    #[arg(long = "data-dir", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// How many core shards process SIP (1 to 256), instead of the file's `shards` (default:
    /// one per core). Also read from FERRO_SHARDS.
    #[arg(long = "shards", value_name = "N", env = "FERRO_SHARDS",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    shards: Option<u16>,
    /// How the shards are driven: `auto` (one task for all while one core keeps up, a task
    /// each above), `always` (one task) or `never` (a task each). Also read from
    /// FERRO_SHARD_MERGE.
    #[arg(
        long = "shard-merge",
        value_name = "auto|always|never",
        env = "FERRO_SHARD_MERGE"
    )]
    shard_merge: Option<MergeArg>,
}

/// `--shard-merge`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MergeArg {
    Auto,
    Always,
    Never,
}

/// The option that moves a listener of this kind (`udp`, `tls`, `STUN`, `admin API`), for
/// error messages.
pub(crate) fn flag_for(what: &str) -> Option<&'static str> {
    match what {
        "udp" | "tcp" => Some("--sip PORT"),
        "tls" => Some("--tls PORT"),
        "STUN" => Some("--stun PORT|off"),
        "admin API" => Some("--admin PORT|off"),
        _ => None,
    }
}

impl RunOptions {
    /// Applies the overrides to a loaded config; the listeners moved remember the option.
    pub(crate) fn apply(&self, config: &mut Config) -> anyhow::Result<()> {
        let any = IpAddr::from([0, 0, 0, 0]);
        for (place, flag, transports) in [
            (self.sip, "--sip", &[Transport::Udp, Transport::Tcp][..]),
            (self.tls, "--tls", &[Transport::Tls][..]),
        ] {
            let Some(place) = place else { continue };
            let mut moved = 0;
            for l in config
                .listeners
                .iter_mut()
                .filter(|l| transports.contains(&l.transport))
            {
                l.addr = place.apply(Some(l.addr), any);
                l.origin = Origin::CommandLine { flag: flag.into() };
                moved += 1;
            }
            if moved == 0 {
                bail!(
                    "{flag}: {} has no {} listener to move",
                    config.source.display(),
                    if flag == "--tls" { "TLS" } else { "UDP or TCP" }
                );
            }
        }
        match self.stun {
            None => {}
            Some(Switch::Off) => config.stun = None,
            Some(Switch::At(place)) => {
                let mut stun =
                    StunSettings::new(place.apply(config.stun.as_ref().map(|s| s.addr), any));
                stun.origin = Origin::CommandLine {
                    flag: "--stun".into(),
                };
                config.stun = Some(stun);
            }
        }
        match self.admin {
            None => {}
            Some(Switch::Off) => config.admin = None,
            Some(Switch::At(place)) => {
                let loopback = IpAddr::from([127, 0, 0, 1]);
                let listen = place.apply(config.admin.as_ref().map(|a| a.listen), loopback);
                if !listen.ip().is_loopback() {
                    bail!(
                        "--admin {listen}: the admin API listens on a loopback address only \
                         (health and the local dialing plan have no authentication)"
                    );
                }
                let mut admin = match config.admin.take() {
                    Some(mut a) => {
                        a.listen = listen;
                        a
                    }
                    None => AdminSettings::new(listen),
                };
                admin.origin = Origin::CommandLine {
                    flag: "--admin".into(),
                };
                config.admin = Some(admin);
            }
        }
        if let Some(dir) = &self.data_dir {
            let dir = std::path::absolute(dir)?;
            config.database.url = format!("sqlite://{}", dir.join("ferroswitch.db").display());
        }
        if let Some(n) = self.shards {
            config.shards = Some(usize::from(n));
        }
        if let Some(m) = self.shard_merge {
            config.shard_merge = match m {
                MergeArg::Auto => Some(ferroswitch_config::ShardMerge::Auto),
                MergeArg::Always => Some(ferroswitch_config::ShardMerge::Always),
                MergeArg::Never => Some(ferroswitch_config::ShardMerge::Never),
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_parse_with_reasons() {
        assert_eq!(parse_place("7060"), Ok(Place::Port(7060)));
        assert_eq!(
            parse_place("127.0.0.1:7060"),
            Ok(Place::Addr("127.0.0.1:7060".parse().unwrap()))
        );
        assert!(parse_place("70000")
            .unwrap_err()
            .contains("port 70000 is out of range"));
        assert!(parse_place("1.2.3.4:70000")
            .unwrap_err()
            .contains("out of range"));
        assert_eq!(parse_switch("off"), Ok(Switch::Off));
    }

    #[test]
    fn overrides_move_listeners_and_name_the_option() {
        let text = "[[listener]]\naddress = \"0.0.0.0:5060\"\n[[listener]]\ntransport = \"tcp\"\n\
                    address = \"0.0.0.0:5060\"\n[stun]\naddress = \"0.0.0.0:3478\"\n\
                    [admin]\nlisten = \"127.0.0.1:8080\"\n";
        let mut config =
            ferroswitch_config::parse_toml(text, std::path::Path::new("/x/f.toml")).unwrap();
        let options = RunOptions {
            sip: Some(Place::Port(7060)),
            stun: Some(Switch::Off),
            admin: Some(Switch::At(Place::Port(7080))),
            data_dir: Some("/tmp/fs2".into()),
            ..RunOptions::default()
        };
        options.apply(&mut config).unwrap();
        let addrs: Vec<String> = config
            .listeners
            .iter()
            .map(|l| l.addr.to_string())
            .collect();
        assert_eq!(addrs, ["0.0.0.0:7060", "0.0.0.0:7060"]);
        assert_eq!(
            config.listeners[0]
                .origin
                .describe(&config.source)
                .as_deref(),
            Some("the --sip option")
        );
        assert_eq!(config.stun, None);
        assert_eq!(config.admin.unwrap().listen.to_string(), "127.0.0.1:7080");
        assert_eq!(config.database.url, "sqlite:///tmp/fs2/ferroswitch.db");
        // no TLS listener to move
        let tls = RunOptions {
            tls: Some(Place::Port(7061)),
            ..RunOptions::default()
        };
        let mut config =
            ferroswitch_config::parse_toml(text, std::path::Path::new("/x/f.toml")).unwrap();
        assert!(tls
            .apply(&mut config)
            .unwrap_err()
            .to_string()
            .contains("no TLS listener"));
        let admin = RunOptions {
            admin: Some(Switch::At(Place::Addr("0.0.0.0:8080".parse().unwrap()))),
            ..RunOptions::default()
        };
        assert!(admin
            .apply(&mut config)
            .unwrap_err()
            .to_string()
            .contains("loopback"));
    }
}
