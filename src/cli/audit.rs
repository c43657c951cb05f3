//! `govgate audit verify FILE`: check the hash chain of an audit log.

use std::path::Path;
use std::process::ExitCode;

use crate::audit;

/// Exit status when the file cannot be read at all (1 means "tampered").
const EXIT_UNREADABLE: u8 = 2;

/// Prints `FILE: N records, chain intact` and exits 0, or describes the first broken
/// record on stderr and exits 1.
pub fn verify(file: &Path) -> ExitCode {
    match audit::verify(file) {
        Ok(report) => match &report.first_break {
            None => {
                println!(
                    "{}: {} records, chain intact",
                    file.display(),
                    report.records
                );
                ExitCode::SUCCESS
            }
            Some(problem) => {
                eprintln!(
                    "{}: chain broken at {problem} ({} intact records before it)",
                    file.display(),
                    report.records
                );
                ExitCode::FAILURE
            }
        },
        Err(error) => {
            eprintln!("govgate: {error}");
            ExitCode::from(EXIT_UNREADABLE)
        }
    }
}
