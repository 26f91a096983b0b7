//! The interrupt epoch is process-wide, so this test gets a process of its own: bumping it would
//! cancel whatever the unit tests in the same binary have in flight.

use gilfree_engine::{interrupt_all, interrupt_epoch, Ctx, Error, Threads};

#[test]
fn interrupt_epoch_cancels_running_calls_only() {
    let running = Ctx::new(Threads::Pool, None);
    let epoch = interrupt_epoch();
    interrupt_all();
    assert_eq!(interrupt_epoch(), epoch + 1);
    assert!(running.is_cancelled());
    assert_eq!(running.check(), Err(Error::Cancelled));
    assert_eq!(running.map_tasks(4, |i| i), Err(Error::Cancelled));

    let later = Ctx::new(Threads::Pool, None);
    assert!(!later.is_cancelled());
    assert_eq!(later.map_tasks(4, |i| i).unwrap(), vec![0, 1, 2, 3]);
}
