//! The apply journal: one JSON line per event, flushed and synced before the next call, so an
//! interrupted apply (Ctrl-C, `kill -9`, a budget stop) knows exactly which steps landed.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Entry {
    /// First line: which plan this journal belongs to.
    Plan { fingerprint: String, steps: u32 },
    /// About to call the service for this step.
    Started { step: u32 },
    /// The service acknowledged it (or verification found it in place).
    Done { step: u32 },
    /// The call was never sent (the admin budget stopped it first): the step is not in doubt.
    NotSent { step: u32 },
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("journal {0} belongs to another plan")]
    OtherPlan(PathBuf),
    #[error("journal {path} line {line} is damaged")]
    Damaged { path: PathBuf, line: usize },
}

#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    done: HashSet<u32>,
    started: HashSet<u32>,
}

impl Journal {
    /// Open (or create) the journal of a plan.
    pub fn open(path: &Path, fingerprint: &str, steps: u32) -> Result<Journal, JournalError> {
        let io = |source| JournalError::Io { path: path.to_path_buf(), source };
        let mut done = HashSet::new();
        let mut started = HashSet::new();
        let existing = path.exists();
        if existing {
            let reader = BufReader::new(File::open(path).map_err(io)?);
            for (i, line) in reader.lines().enumerate() {
                let line = line.map_err(io)?;
                if line.trim().is_empty() {
                    continue;
                }
                // A torn last line (killed mid-write) is ignored; damage elsewhere is not.
                let entry: Entry = match serde_json::from_str(&line) {
                    Ok(e) => e,
                    Err(_) => return Err(JournalError::Damaged { path: path.to_path_buf(), line: i + 1 }),
                };
                match entry {
                    Entry::Plan { fingerprint: f, .. } if f != fingerprint => return Err(JournalError::OtherPlan(path.to_path_buf())),
                    Entry::Plan { .. } => {}
                    Entry::Started { step } => {
                        started.insert(step);
                    }
                    Entry::Done { step } => {
                        done.insert(step);
                    }
                    Entry::NotSent { step } => {
                        started.remove(&step);
                    }
                }
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
        let mut journal = Journal { path: path.to_path_buf(), file, done, started };
        if !existing {
            journal.write(&Entry::Plan { fingerprint: fingerprint.to_string(), steps })?;
        }
        Ok(journal)
    }

    pub fn is_done(&self, step: u32) -> bool {
        self.done.contains(&step)
    }

    /// Steps that were started but never confirmed: the call may or may not have landed.
    pub fn in_doubt(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.started.difference(&self.done).copied().collect();
        v.sort_unstable();
        v
    }

    pub fn started(&mut self, step: u32) -> Result<(), JournalError> {
        self.started.insert(step);
        self.write(&Entry::Started { step })
    }

    pub fn done(&mut self, step: u32) -> Result<(), JournalError> {
        self.done.insert(step);
        self.write(&Entry::Done { step })
    }

    /// The started step's call never left (a budget stop): it is no longer in doubt.
    pub fn not_sent(&mut self, step: u32) -> Result<(), JournalError> {
        self.started.remove(&step);
        self.write(&Entry::NotSent { step })
    }

    fn write(&mut self, entry: &Entry) -> Result<(), JournalError> {
        let mut line = serde_json::to_string(entry).unwrap_or_default();
        line.push('\n');
        let io = |source| JournalError::Io { path: self.path.clone(), source };
        self.file.write_all(line.as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(|source| JournalError::Io { path: self.path.clone(), source })
    }
}
