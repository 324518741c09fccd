//! Message move tasks: moving the messages a queue holds when the task starts to a destination
//! queue, or back to the queue each message was dead-lettered from, at an optional rate.
//!
//! Each task's state lives in one store setting, written in the same batch as every move, so a
//! restart resumes a running task with exact progress. The most recent tasks per source queue
//! are kept (`TASKS_PER_SOURCE_KEPT`).

use crate::engine::Engine;
use crate::error::DomainError;
use crate::queue::Queue;
use crate::settings::QueueName;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use wharf_store::Mutation;

const SETTING_KEY: &str = "move_tasks";
/// Finished tasks beyond this many per source queue are forgotten, newest kept.
pub const TASKS_PER_SOURCE_KEPT: usize = 10;
/// Messages moved per step when no rate is set.
const UNPACED_STEP_MESSAGES: usize = 100;
/// How long a task waits for messages that are in flight or delayed before looking again.
const WAIT_FOR_INVISIBLE_MS: u64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveTaskStatus {
    Running,
    Completed,
    Cancelled,
    Failed,
}

impl MoveTaskStatus {
    fn code(self) -> &'static str {
        match self {
            MoveTaskStatus::Running => "running",
            MoveTaskStatus::Completed => "completed",
            MoveTaskStatus::Cancelled => "cancelled",
            MoveTaskStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [MoveTaskStatus::Running, MoveTaskStatus::Completed, MoveTaskStatus::Cancelled, MoveTaskStatus::Failed]
            .into_iter()
            .find(|status| status.code() == text)
    }
}

/// Why a task failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveFailure {
    /// The source or a destination queue no longer exists.
    QueueMissing,
}

/// A task as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveTask {
    pub id: u64,
    pub source: QueueName,
    pub source_queue_id: u64,
    /// `None` moves each message back to the queue it was dead-lettered from.
    pub destination: Option<QueueName>,
    pub messages_per_second_max: Option<u32>,
    pub status: MoveTaskStatus,
    pub moved: u64,
    pub to_move: u64,
    pub started_ms: u64,
    pub failure: Option<MoveFailure>,
    /// Only messages up to this sequence number (those present at the start) are moved.
    up_to_seq: u64,
}

/// All tasks of the engine.
#[derive(Debug)]
pub(crate) struct MoveTasks {
    tasks: Mutex<Vec<MoveTask>>,
    next_id: AtomicU64,
}

impl MoveTasks {
    pub(crate) fn load(settings: &[(String, Vec<u8>)]) -> Self {
        let tasks: Vec<MoveTask> =
            settings.iter().find(|(key, _)| key == SETTING_KEY).map(|(_, value)| decode(value)).unwrap_or_default();
        let next_id = tasks.iter().map(|task| task.id + 1).max().unwrap_or(1);
        MoveTasks { tasks: Mutex::new(tasks), next_id: AtomicU64::new(next_id) }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<MoveTask>> {
        self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get(&self, id: u64) -> Option<MoveTask> {
        self.lock().iter().find(|task| task.id == id).cloned()
    }

    /// Applies `change` to a task and returns the mutation that persists every task.
    fn update(&self, id: u64, change: impl FnOnce(&mut MoveTask)) -> Mutation {
        let mut tasks = self.lock();
        if let Some(task) = tasks.iter_mut().find(|task| task.id == id) {
            change(task);
        }
        persist(&tasks)
    }
}

fn persist(tasks: &[MoveTask]) -> Mutation {
    Mutation::PutSetting { key: SETTING_KEY.to_string(), value: encode(tasks) }
}

/// One task per line, fields separated by tabs (queue names and accounts hold neither).
fn encode(tasks: &[MoveTask]) -> Vec<u8> {
    let mut out = String::new();
    for task in tasks {
        let (destination_account, destination_name) = match &task.destination {
            Some(queue) => (queue.account.as_str(), queue.name.as_str()),
            None => ("", ""),
        };
        let failure = match task.failure {
            Some(MoveFailure::QueueMissing) => "queue_missing",
            None => "",
        };
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            task.id,
            task.source.account,
            task.source.name,
            task.source_queue_id,
            destination_account,
            destination_name,
            task.messages_per_second_max.unwrap_or(0),
            task.status.code(),
            task.moved,
            task.to_move,
            task.started_ms,
            failure,
            task.up_to_seq
        ));
    }
    out.into_bytes()
}

/// Decodes stored tasks; a line that does not parse is skipped rather than stopping start-up.
fn decode(bytes: &[u8]) -> Vec<MoveTask> {
    let text = String::from_utf8_lossy(bytes);
    text.lines().filter_map(decode_line).collect()
}

fn decode_line(line: &str) -> Option<MoveTask> {
    let fields: Vec<&str> = line.split('\t').collect();
    let [id, source_account, source_name, source_queue_id, destination_account, destination_name, rate, status, moved, to_move, started_ms, failure, up_to_seq] =
        fields.as_slice()
    else {
        return None;
    };
    let destination = (!destination_name.is_empty())
        .then(|| QueueName { account: destination_account.to_string(), name: destination_name.to_string() });
    Some(MoveTask {
        id: id.parse().ok()?,
        source: QueueName { account: source_account.to_string(), name: source_name.to_string() },
        source_queue_id: source_queue_id.parse().ok()?,
        destination,
        messages_per_second_max: rate.parse::<u32>().ok().filter(|rate| *rate > 0),
        status: MoveTaskStatus::parse(status)?,
        moved: moved.parse().ok()?,
        to_move: to_move.parse().ok()?,
        started_ms: started_ms.parse().ok()?,
        failure: (*failure == "queue_missing").then_some(MoveFailure::QueueMissing),
        up_to_seq: up_to_seq.parse().ok()?,
    })
}

impl Engine {
    /// Starts moving the messages `source` holds now. Only one task per source may run.
    pub async fn start_move_task(
        self: &Arc<Self>,
        source: &Queue,
        destination: Option<&Queue>,
        messages_per_second_max: Option<u32>,
    ) -> Result<MoveTask, DomainError> {
        let (to_move, up_to_seq) = {
            let state = source.lock();
            (state.len() as u64, state.last_seq())
        };
        let (task, commit) = {
            let mut tasks = self.move_tasks.lock();
            let running =
                tasks.iter().any(|task| task.source_queue_id == source.id && task.status == MoveTaskStatus::Running);
            if running {
                return Err(DomainError::MoveTaskRunning);
            }
            let task = MoveTask {
                id: self.move_tasks.next_id.fetch_add(1, Ordering::SeqCst),
                source: QueueName { account: source.account.clone(), name: source.name.clone() },
                source_queue_id: source.id,
                destination: destination
                    .map(|queue| QueueName { account: queue.account.clone(), name: queue.name.clone() }),
                messages_per_second_max,
                status: MoveTaskStatus::Running,
                moved: 0,
                to_move,
                started_ms: self.clock.now_ms(),
                failure: None,
                up_to_seq,
            };
            tasks.push(task.clone());
            forget_old_tasks(&mut tasks, source.id);
            (task, self.store.submit(vec![persist(&tasks)]))
        };
        commit.await?;
        tokio::spawn(self.clone().run_move_task(task.id));
        Ok(task)
    }

    /// The most recent tasks of `source`, newest first.
    pub fn list_move_tasks(&self, source: &Queue, max: usize) -> Vec<MoveTask> {
        let tasks = self.move_tasks.lock();
        tasks.iter().rev().filter(|task| task.source_queue_id == source.id).take(max).cloned().collect()
    }

    /// Cancels a running task; returns it as it stood.
    pub async fn cancel_move_task(&self, id: u64) -> Result<MoveTask, DomainError> {
        let (task, commit) = {
            let mut tasks = self.move_tasks.lock();
            let Some(task) = tasks.iter_mut().find(|task| task.id == id && task.status == MoveTaskStatus::Running)
            else {
                return Err(DomainError::MoveTaskNotFound);
            };
            task.status = MoveTaskStatus::Cancelled;
            let task = task.clone();
            (task, self.store.submit(vec![persist(&tasks)]))
        };
        commit.await?;
        Ok(task)
    }

    pub fn move_task(&self, id: u64) -> Option<MoveTask> {
        self.move_tasks.get(id)
    }

    /// Restarts the runners of tasks that were running when the engine last stopped.
    pub(crate) fn resume_move_tasks(self: &Arc<Self>) {
        let running: Vec<u64> = self
            .move_tasks
            .lock()
            .iter()
            .filter(|task| task.status == MoveTaskStatus::Running)
            .map(|task| task.id)
            .collect();
        for id in running {
            tokio::spawn(self.clone().run_move_task(id));
        }
    }

    async fn run_move_task(self: Arc<Self>, id: u64) {
        let mut shutdown = self.shutdown.subscribe();
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.move_step(id).await {
                Ok(Step::Done) => return,
                Ok(Step::WaitUntil(deadline_ms)) => {
                    tokio::select! {
                        _ = self.clock.sleep_until(deadline_ms) => {}
                        _ = shutdown.changed() => return,
                    }
                }
                Ok(Step::Continue) => tokio::task::yield_now().await,
                Err(error) => {
                    tracing::error!(%error, task = id, "message move task stopped");
                    return;
                }
            }
        }
    }

    /// Moves one step's worth of messages (a second's worth when a rate is set).
    async fn move_step(&self, id: u64) -> Result<Step, DomainError> {
        let Some(task) = self.move_tasks.get(id).filter(|task| task.status == MoveTaskStatus::Running) else {
            return Ok(Step::Done);
        };
        let step_started_ms = self.clock.now_ms();
        let Some(source) = self.queue(&task.source.account, &task.source.name).filter(|q| q.id == task.source_queue_id)
        else {
            return self.fail_move_task(id).await;
        };
        let step = task.messages_per_second_max.map_or(UNPACED_STEP_MESSAGES, |rate| rate as usize);
        let candidates = source.lock().visible_up_to(task.up_to_seq, step);
        if candidates.is_empty() {
            if source.lock().holds_any_up_to(task.up_to_seq) {
                return Ok(Step::WaitUntil(step_started_ms + WAIT_FOR_INVISIBLE_MS));
            }
            let commit = self.store.submit(vec![self.move_tasks.update(id, |task| {
                task.status = MoveTaskStatus::Completed;
            })]);
            commit.await?;
            return Ok(Step::Done);
        }
        for meta in candidates {
            let cached = source.lock().cached_content(meta.seq);
            let Some(mut content) = (match cached {
                Some(content) => Some(content),
                None => self.store.read_content(source.id, meta.seq)?,
            }) else {
                continue;
            };
            let target = match &task.destination {
                Some(destination) => self.queue(&destination.account, &destination.name),
                None => content
                    .dead_letter_source
                    .as_deref()
                    .and_then(|origin| origin.split_once('/'))
                    .and_then(|(account, name)| self.queue(account, name)),
            };
            let Some(target) = target else {
                return self.fail_move_task(id).await;
            };
            if self.move_tasks.get(id).is_none_or(|task| task.status != MoveTaskStatus::Running) {
                return Ok(Step::Done);
            }
            let Some(meta) = source.lock().take_visible(meta.seq) else { continue };
            content.dead_letter_source = None;
            let progress = self.move_tasks.update(id, |task| task.moved += 1);
            if !self.transfer(&source, &target, meta, content, vec![progress]).await? {
                // The destination went away between lookup and move: the message stays.
                source.lock().insert(meta, self.clock.now_ms());
                self.move_tasks.update(id, |task| task.moved = task.moved.saturating_sub(1));
                return self.fail_move_task(id).await;
            }
        }
        Ok(match task.messages_per_second_max {
            Some(_) => Step::WaitUntil(step_started_ms + 1_000),
            None => Step::Continue,
        })
    }

    async fn fail_move_task(&self, id: u64) -> Result<Step, DomainError> {
        let commit = self.store.submit(vec![self.move_tasks.update(id, |task| {
            task.status = MoveTaskStatus::Failed;
            task.failure = Some(MoveFailure::QueueMissing);
        })]);
        commit.await?;
        Ok(Step::Done)
    }
}

/// What a runner does after a step.
enum Step {
    Done,
    Continue,
    WaitUntil(u64),
}

fn forget_old_tasks(tasks: &mut Vec<MoveTask>, source_queue_id: u64) {
    let of_source = tasks.iter().filter(|task| task.source_queue_id == source_queue_id).count();
    let mut excess = of_source.saturating_sub(TASKS_PER_SOURCE_KEPT);
    tasks.retain(|task| {
        let forget = excess > 0 && task.source_queue_id == source_queue_id && task.status != MoveTaskStatus::Running;
        if forget {
            excess -= 1;
        }
        !forget
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: u64, source_queue_id: u64, status: MoveTaskStatus) -> MoveTask {
        MoveTask {
            id,
            source: QueueName { account: "000000000000".into(), name: format!("dlq{source_queue_id}") },
            source_queue_id,
            destination: id
                .is_multiple_of(2)
                .then(|| QueueName { account: "000000000000".into(), name: "dest".into() }),
            messages_per_second_max: id.is_multiple_of(3).then_some(7),
            status,
            moved: id * 2,
            to_move: id * 3,
            started_ms: 1_700_000_000_000 + id,
            failure: (status == MoveTaskStatus::Failed).then_some(MoveFailure::QueueMissing),
            up_to_seq: id * 5,
        }
    }

    #[test]
    fn tasks_round_trip_through_their_setting() {
        let tasks = vec![
            task(1, 1, MoveTaskStatus::Completed),
            task(2, 1, MoveTaskStatus::Failed),
            task(3, 2, MoveTaskStatus::Running),
            task(4, 2, MoveTaskStatus::Cancelled),
        ];
        assert_eq!(decode(&encode(&tasks)), tasks);
        assert_eq!(decode(b"garbage\nmore\tgarbage\n"), Vec::new());
    }

    #[test]
    fn only_the_newest_finished_tasks_are_kept() {
        let mut tasks: Vec<MoveTask> = (1..=12).map(|id| task(id, 1, MoveTaskStatus::Completed)).collect();
        tasks.push(task(13, 2, MoveTaskStatus::Completed));
        forget_old_tasks(&mut tasks, 1);
        let ids: Vec<u64> = tasks.iter().map(|task| task.id).collect();
        assert_eq!(ids, vec![3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    }
}
