//! `ferroswitch mailbox show|set LOGIN`: an account's built-in voicemail mailbox
//! (`voicemailusers`, docs/voicemail.md): whether calls may go into it, and the address that
//! voicemail to email (`[smtp]`) mails new messages to. The greeting is recorded by the owner
//! at 750; the mailbox row is created by the first change when the account has none.

use anyhow::{bail, Context as _};
use clap::Subcommand;
use ferroswitch_config::Config;
use store::{Store, VoicemailUser};

use crate::accounts::{check_login, open_store};

/// `ferroswitch mailbox ...`: the built-in voicemail's mailbox settings.
#[derive(Debug, Subcommand)]
pub(crate) enum MailboxCommand {
    /// Show LOGIN's mailbox: on or off, the email address, the greeting file.
    Show { login: String },
    /// Change LOGIN's mailbox (created, switched on, when the account has none).
    Set {
        login: String,
        /// `on`: calls may go into the mailbox; `off`: they are answered 480.
        #[arg(long, value_parser = ["on", "off"])]
        enabled: Option<String>,
        /// Mail each new message, with its recording, to this address (needs `[smtp]`).
        #[arg(long, value_name = "ADDRESS", conflicts_with = "no_email")]
        email: Option<String>,
        /// Stop mailing new messages.
        #[arg(long)]
        no_email: bool,
    },
}

/// The longest address a mailbox keeps (RFC 5321's path limit).
const EMAIL_MAX: usize = 254;

/// `local@domain`, without spaces or angle brackets: what an SMTP server takes as a recipient.
fn check_email(email: &str) -> anyhow::Result<()> {
    let Some((local, domain)) = email.rsplit_once('@') else {
        bail!("email {email:?}: expected local@domain");
    };
    if local.is_empty() || domain.is_empty() || !domain.contains('.') && domain != "localhost" {
        bail!("email {email:?}: expected local@domain (a domain with a dot)");
    }
    if email.len() > EMAIL_MAX {
        bail!("email: at most {EMAIL_MAX} characters, not {}", email.len());
    }
    if let Some(c) = email
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(*c))
    {
        bail!("email {email:?}: {c:?} is not allowed in an address");
    }
    Ok(())
}

pub(crate) async fn run(config: &Config, cmd: MailboxCommand) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let result = mailbox(&store, cmd).await;
    store.close().await;
    result
}

async fn mailbox(store: &Store, cmd: MailboxCommand) -> anyhow::Result<()> {
    match cmd {
        MailboxCommand::Show { login } => {
            check_login(&login)?;
            match store.voicemail_user(&login).await? {
                Some(u) => print(&u),
                None => println!("{login}: no mailbox row (on by default with [voicemail])"),
            }
        }
        MailboxCommand::Set {
            login,
            enabled,
            email,
            no_email,
        } => {
            check_login(&login)?;
            if enabled.is_none() && email.is_none() && !no_email {
                bail!("nothing to change: give --enabled on|off, --email ADDRESS or --no-email");
            }
            if let Some(e) = &email {
                check_email(e)?;
            }
            if store.get_account(&login).await?.is_none() {
                bail!("no account {login} (ferroswitch account add {login} ...)");
            }
            let mut user = store
                .voicemail_user(&login)
                .await?
                .unwrap_or(VoicemailUser {
                    login: login.clone(),
                    enabled: true,
                    email: None,
                    greeting_path: None,
                });
            if let Some(on) = enabled {
                user.enabled = on == "on";
            }
            if email.is_some() {
                user.email = email;
            } else if no_email {
                user.email = None;
            }
            store
                .set_voicemail_user(&user)
                .await
                .with_context(|| format!("saving {login}'s mailbox"))?;
            print(&user);
        }
    }
    Ok(())
}

fn print(u: &VoicemailUser) {
    println!(
        "{}: {}, email {}, greeting {}",
        u.login,
        if u.enabled { "on" } else { "off" },
        u.email.as_deref().unwrap_or("(none)"),
        u.greeting_path.as_deref().unwrap_or("(standard)")
    );
}

#[cfg(test)]
mod tests {
    use super::check_email;

    #[test]
    fn addresses() {
        for ok in [
            "alice@example.org",
            "a.b+vm@mail.example.co.uk",
            "vm@localhost",
        ] {
            check_email(ok).unwrap();
        }
        for bad in [
            "alice",
            "@example.org",
            "alice@",
            "alice@example",
            "alice smith@example.org",
            "<alice@example.org>",
            "a@b.c,d@e.f",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        assert!(check_email(&format!("{}@example.org", "a".repeat(250))).is_err());
    }
}
