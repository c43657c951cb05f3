//! [`AuditLog`]: appends records from a dedicated thread (file writes and `fsync` must not
//! block the async runtime), fed by a bounded channel; `record` returns once the record
//! is on disk, `record_behind` once it is queued (write-behind, for high-volume events).
//! Records queued together are written with one `fsync`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tokio::sync::{mpsc, oneshot};

use super::event::AuditEvent;
use super::record::{AuditRecord, GENESIS_HASH};
use super::AuditError;

/// Events waiting for the writer; callers wait (asynchronously) when it is full.
const QUEUE_CAPACITY: usize = 1024;
/// Most records written per `fsync`.
const MAX_BATCH: usize = 256;
/// Bytes read from the end of an existing file to find its last record.
const TAIL_BYTES: u64 = 256 * 1024;

struct Job {
    event: AuditEvent,
    /// Told when the record is on disk; `None` for write-behind records.
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// Handle to an open audit log; cheap to clone, shared by every worker.
#[derive(Clone)]
pub struct AuditLog {
    queue: mpsc::Sender<Job>,
    path: PathBuf,
}

/// Where the chain continues: the last record's seq and hash.
struct ChainHead {
    seq: u64,
    hash: String,
    /// The file ends in an unterminated fragment (a crash mid-write): start on a new line.
    needs_newline: bool,
}

impl AuditLog {
    /// Opens (or creates, mode 0640) the log and continues the chain after its last
    /// record. Starts the writer thread, which ends when the last handle is dropped.
    pub fn open(path: &Path) -> Result<AuditLog, AuditError> {
        let io = |source| AuditError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o640);
        let mut file = options.open(path).map_err(io)?;
        let head = read_head(&mut file).map_err(|message| match message {
            TailError::Io(source) => io(source),
            TailError::Corrupt(message) => AuditError::Corrupt {
                path: path.to_path_buf(),
                message,
            },
        })?;
        let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
        let writer = Writer {
            file,
            head,
            path: path.to_path_buf(),
        };
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer.run(jobs))
            .map_err(io)?;
        Ok(AuditLog {
            queue,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `event` and returns once it is written and synced to disk.
    pub async fn record(&self, event: AuditEvent) -> Result<(), AuditError> {
        let (done, written) = oneshot::channel();
        self.queue
            .send(Job {
                event,
                done: Some(done),
            })
            .await
            .map_err(|_| AuditError::WriterStopped)?;
        match written.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(AuditError::Write {
                path: self.path.clone(),
                message,
            }),
            Err(_) => Err(AuditError::WriterStopped),
        }
    }

    /// Queues `event` and returns without waiting for the disk: the record is written, in
    /// chain order, with the next batch's `fsync` (a few milliseconds later). For events a
    /// request must not wait on — token issuance, thousands per second — where losing the
    /// last milliseconds of records in a crash is acceptable; logins, denials, revocations
    /// and officers' actions use [`record`](Self::record). A full queue still makes the
    /// caller wait for room (no unbounded memory). A write failure is logged by the writer.
    pub async fn record_behind(&self, event: AuditEvent) -> Result<(), AuditError> {
        self.queue
            .send(Job { event, done: None })
            .await
            .map_err(|_| AuditError::WriterStopped)
    }
}

struct Writer {
    file: File,
    head: ChainHead,
    path: PathBuf,
}

impl Writer {
    fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        while let Some(first) = jobs.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let outcome = self.append(&batch).map_err(|e| e.to_string());
            if let Err(message) = &outcome {
                tracing::error!(path = %self.path.display(), %message, "audit log write failed");
                // Part of a line may have reached the file: never append to it.
                self.head.needs_newline = true;
            }
            for done in batch.into_iter().filter_map(|job| job.done) {
                let _ = done.send(outcome.clone());
            }
        }
    }

    /// Writes the batch as one `write` and one `fsync`; the chain advances only on success.
    fn append(&mut self, batch: &[Job]) -> std::io::Result<()> {
        let mut text = String::new();
        if self.head.needs_newline {
            text.push('\n');
        }
        let (mut seq, mut prev_hash) = (self.head.seq, self.head.hash.clone());
        let time = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        for job in batch {
            seq += 1;
            let record = new_record(&job.event, seq, &time, prev_hash);
            text.push_str(&record.to_line());
            text.push('\n');
            prev_hash = record.hash;
        }
        self.file.write_all(text.as_bytes())?;
        self.file.sync_data()?;
        self.head = ChainHead {
            seq,
            hash: prev_hash,
            needs_newline: false,
        };
        Ok(())
    }
}

fn new_record(event: &AuditEvent, seq: u64, time: &str, prev_hash: String) -> AuditRecord {
    let fields = event.fields();
    let mut record = AuditRecord {
        seq,
        time: time.to_string(),
        event: fields.event.to_string(),
        actor: fields.actor,
        client_ip: fields.client_ip,
        outcome: fields.outcome.to_string(),
        reason: fields.reason,
        details: fields.details,
        prev_hash,
        hash: String::new(),
    };
    record.hash = record.compute_hash();
    record
}

enum TailError {
    Io(std::io::Error),
    Corrupt(String),
}

/// The last complete record of the file (genesis for an empty file). Its own hash must
/// check out: continuing a chain from a damaged record would hide the damage.
fn read_head(file: &mut File) -> Result<ChainHead, TailError> {
    let length = file.seek(SeekFrom::End(0)).map_err(TailError::Io)?;
    let start = length.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start)).map_err(TailError::Io)?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).map_err(TailError::Io)?;
    let needs_newline = !tail.is_empty() && !tail.ends_with(b"\n");
    let complete = match tail.iter().rposition(|&b| b == b'\n') {
        Some(end) => &tail[..end],
        None if start == 0 => {
            return Ok(ChainHead {
                seq: 0,
                hash: GENESIS_HASH.to_string(),
                needs_newline,
            })
        }
        None => return Err(TailError::Corrupt("no line break near the end".into())),
    };
    let last_line = match complete.iter().rposition(|&b| b == b'\n') {
        Some(newline) => &complete[newline + 1..],
        None if start == 0 => complete,
        None => return Err(TailError::Corrupt("last record is too long".into())),
    };
    let record: AuditRecord = serde_json::from_slice(last_line).map_err(|e| {
        TailError::Corrupt(format!(
            "the last record is unreadable ({e}); run `govgate audit verify`"
        ))
    })?;
    if record.compute_hash() != record.hash {
        return Err(TailError::Corrupt(format!(
            "the last record (seq {}) does not match its hash; run `govgate audit verify`",
            record.seq
        )));
    }
    Ok(ChainHead {
        seq: record.seq,
        hash: record.hash,
        needs_newline,
    })
}
