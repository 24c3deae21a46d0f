//! Batch deploy and abolish (BatchDeployApis, BatchAbolishApis). A batch is a task with an
//! operation id; it runs to the end before the call returns, one API at a time under one hold
//! of the write lock, and each API succeeds or fails on its own. The outcome of the latest
//! [`MAX_TASKS`] tasks stays describable (DescribeDeployApiTask, DescribeAbolishApiTask) for
//! the life of the process: tasks are not stored.

use crate::ops::{not_found, Control, ControlError, Result};
use apigw_model::{ModelError, Stage};
use std::collections::VecDeque;

/// Tasks kept for description, oldest dropped first.
pub const MAX_TASKS: usize = 1000;
/// Most APIs in one batch.
pub const MAX_BATCH: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Deploy,
    Abolish,
}

/// One API of a batch: its id, the group the caller says it is in, the stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItem {
    pub api_id: String,
    pub group_id: Option<String>,
    pub stage: Stage,
}

/// What happened to one API of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchResult {
    pub api_id: String,
    /// The API's group (the one given, when the API was not found).
    pub group_id: String,
    pub group_name: String,
    pub api_name: String,
    pub stage: Stage,
    /// `None` when it was deployed (abolished); the refusal otherwise.
    pub error: Option<ModelError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchTask {
    pub operation_id: String,
    pub kind: TaskKind,
    /// The account that ran it; only it can describe the task.
    pub owner: i64,
    pub results: Vec<BatchResult>,
}

/// The latest tasks of the process.
#[derive(Debug, Default)]
pub struct TaskLog {
    tasks: VecDeque<BatchTask>,
}

impl Control {
    /// Deploys each API's current draft to its stage, as [`Control::deploy`] does one.
    pub async fn batch_deploy(&self, items: &[BatchItem], description: &str) -> Result<BatchTask> {
        self.batch(TaskKind::Deploy, items, description).await
    }

    /// Takes each API out of its stage, as [`Control::abolish`] does one.
    pub async fn batch_abolish(&self, items: &[BatchItem]) -> Result<BatchTask> {
        self.batch(TaskKind::Abolish, items, "").await
    }

    /// A task of this account (`NotFoundOperation` for an unknown id, a task of the other
    /// kind, another account's, or one dropped from the log).
    pub fn task(&self, kind: TaskKind, operation_id: &str) -> Result<BatchTask> {
        let log = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        log.tasks
            .iter()
            .find(|t| t.operation_id == operation_id && t.kind == kind && t.owner == self.account)
            .cloned()
            .ok_or_else(|| not_found("Operation", operation_id))
    }

    async fn batch(
        &self,
        kind: TaskKind,
        items: &[BatchItem],
        description: &str,
    ) -> Result<BatchTask> {
        if items.is_empty() {
            return Err(ModelError::new("MissingApi", "`Api` must list at least one API").into());
        }
        if items.len() > MAX_BATCH {
            return Err(ModelError::new(
                "InvalidApi",
                format!("at most {MAX_BATCH} APIs per batch"),
            )
            .into());
        }
        let _w = self.write_lock.lock().await?;
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            results.push(self.batch_one(kind, item, description).await);
        }
        self.publish().await;
        let task = BatchTask {
            operation_id: crate::new_id(),
            kind,
            owner: self.account,
            results,
        };
        let mut log = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        log.tasks.push_back(task.clone());
        while log.tasks.len() > MAX_TASKS {
            log.tasks.pop_front();
        }
        Ok(task)
    }

    async fn batch_one(&self, kind: TaskKind, item: &BatchItem, description: &str) -> BatchResult {
        let mut result = BatchResult {
            api_id: item.api_id.clone(),
            group_id: item.group_id.clone().unwrap_or_default(),
            group_name: String::new(),
            api_name: String::new(),
            stage: item.stage,
            error: None,
        };
        let outcome: Result<()> = async {
            let api = self.api(&item.api_id).await?;
            result.group_id = api.group_id.clone();
            result.api_name = api.api_name.clone();
            result.group_name = self.group(&api.group_id).await?.group_name;
            if item.group_id.as_ref().is_some_and(|g| *g != api.group_id) {
                return Err(ModelError::new(
                    "NotFoundApi",
                    format!(
                        "API `{}` is not in group `{}`",
                        item.api_id,
                        item.group_id.as_deref().unwrap_or_default()
                    ),
                )
                .into());
            }
            match kind {
                TaskKind::Deploy => self
                    .deploy_locked(&api.api_id, item.stage, description)
                    .await
                    .map(drop),
                TaskKind::Abolish => self.abolish_locked(&api.api_id, item.stage).await,
            }
        }
        .await;
        result.error = outcome.err().map(|e| match e {
            ControlError::Refused(m) => m,
            ControlError::Store(s) => ModelError::new("ServiceUnavailable", s.to_string()),
        });
        result
    }
}
