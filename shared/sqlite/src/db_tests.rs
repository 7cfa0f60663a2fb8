//! The writer's contract: each change is atomic on its own inside a shared commit, a
//! failing or panicking change takes nobody else's with it, and a read sees every write
//! that returned.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use super::Db;

fn scratch() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("comms.db")).unwrap();
    (dir, db)
}

async fn with_table(db: &Db) {
    db.write(|c| c.execute_batch("CREATE TABLE t (x INTEGER PRIMARY KEY)")).await.unwrap();
}

async fn values(db: &Db) -> Vec<i64> {
    db.read(|c| c.prepare("SELECT x FROM t ORDER BY x")?.query_map([], |r| r.get(0))?.collect())
        .await
        .unwrap()
}

/// Many concurrent changes, some failing after a first insert and some panicking: each
/// caller gets its own answer, and exactly the changes that succeeded are kept, whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_or_panicking_change_rolls_back_alone() {
    let (_dir, db) = scratch();
    with_table(&db).await;
    db.write(|c| c.execute("INSERT INTO t (x) VALUES (-1)", [])).await.unwrap();
    let tasks: Vec<_> = (0..200i64)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(move |c| {
                    c.execute("INSERT INTO t (x) VALUES (?1)", [i * 2])?;
                    match i % 3 {
                        // An error after a first change: that change must go too.
                        1 => c.execute("INSERT INTO t (x) VALUES (-1)", []).map(|_| ()),
                        2 if i % 5 == 0 => panic!("a bug in one change"),
                        _ => c.execute("INSERT INTO t (x) VALUES (?1)", [i * 2 + 1]).map(|_| ()),
                    }
                })
                .await
            })
        })
        .collect();
    let mut kept = vec![-1];
    for (i, t) in (0..200i64).zip(tasks) {
        let answer = t.await.unwrap();
        let should_fail = i % 3 == 1 || i % 3 == 2 && i % 5 == 0;
        assert_eq!(answer.is_err(), should_fail, "change {i}: {answer:?}");
        if !should_fail {
            kept.extend([i * 2, i * 2 + 1]);
        }
    }
    kept.sort_unstable();
    assert_eq!(values(&db).await, kept);
}

/// A read issued after a write returned sees it, on another connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_sees_every_write_that_returned() {
    let (_dir, db) = scratch();
    with_table(&db).await;
    for i in 0..50i64 {
        db.write(move |c| c.execute("INSERT INTO t (x) VALUES (?1)", [i])).await.unwrap();
        let n: i64 = db.read(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))).await.unwrap();
        assert_eq!(n, i + 1);
    }
}
