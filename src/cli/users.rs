//! `govgate users …`: tools for the file directory backend.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context};
use clap::Subcommand;

use crate::directory::file::hash_password;
use crate::directory::is_acceptable_password;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Read a password (without echo on a terminal, else one line from stdin) and print
    /// its Argon2id hash for `password_hash` in users.toml.
    HashPassword,
}

pub fn run(command: &UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::HashPassword => {
            let password = read_password()?;
            if !is_acceptable_password(&password) {
                bail!("the password is empty");
            }
            println!("{}", hash_password(&password)?);
            Ok(())
        }
    }
}

/// On a terminal: prompt twice without echo. Otherwise (scripts, tests): the first line.
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Mật khẩu / Password: ")
            .context("cannot read the password")?;
        let again =
            rpassword::prompt_password("Nhập lại / Again: ").context("cannot read the password")?;
        if first != again {
            bail!("the two passwords differ");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
