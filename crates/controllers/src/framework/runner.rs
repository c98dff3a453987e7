//! Workers: take keys off a controller's queue and reconcile them, one key
//! at a time per worker; a failure is retried with the queue's backoff, a
//! reconcile may ask to be run again after a delay.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::framework::error::ControllerError;
use crate::framework::queue::{Key, Queue};

/// What a reconcile asks for next.
pub type Outcome = Result<Option<Duration>, ControllerError>;

pub fn spawn_workers<F, Fut>(
    controller: &'static str,
    queue: Queue,
    workers: usize,
    reconcile: F,
) -> Vec<JoinHandle<()>>
where
    F: Fn(Key) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    (0..workers.max(1))
        .map(|_| {
            let queue = queue.clone();
            let reconcile = reconcile.clone();
            tokio::spawn(async move {
                loop {
                    let key = queue.next().await;
                    match reconcile(key.clone()).await {
                        Ok(again) => {
                            queue.forget(&key);
                            if let Some(after) = again {
                                queue.add_after(key.clone(), after);
                            }
                        }
                        Err(ControllerError::Kube(kube::Error::Api(s))) if s.code == 409 => {
                            // Someone else wrote first: read again and retry.
                            debug!(controller, object = %key, "conflict; retrying");
                            queue.add_rate_limited(key.clone());
                        }
                        Err(error) => {
                            warn!(controller, object = %key, %error, "reconcile failed; retrying");
                            queue.add_rate_limited(key.clone());
                        }
                    }
                    queue.done(&key);
                }
            })
        })
        .collect()
}
