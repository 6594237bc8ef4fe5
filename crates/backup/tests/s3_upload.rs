//! Streaming uploads against a real SeaweedFS: round trips in each format, SigV4
//! credentials checked, and failures (source error, server killed mid-upload) leaving no
//! object at the final key and no open multipart upload.

use backup::compress::decompress;
use backup::upload::temporary_key;
use backup::{BoxRead, Compression, ObjectUrl, S3Settings, S3Store, UploadOptions, upload_backup};
use mysql_operator_backup as backup;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use testkit::s3::{ACCESS_KEY, REGION, SECRET_KEY, Seaweed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn settings(server: &Seaweed, secret: &str) -> S3Settings {
    let mut vars = BTreeMap::new();
    vars.insert("AWS_ACCESS_KEY_ID".to_string(), ACCESS_KEY.to_string());
    vars.insert("AWS_SECRET_ACCESS_KEY".to_string(), secret.to_string());
    vars.insert("AWS_REGION".to_string(), REGION.to_string());
    vars.insert("S3_ENDPOINT".to_string(), server.endpoint());
    S3Settings::from_vars(&vars).expect("valid settings")
}

/// Pre-created buckets can lag a moment behind the server's readiness.
async fn wait_bucket(store: &S3Store, bucket: &str) {
    let start = Instant::now();
    loop {
        let probe = ObjectUrl {
            bucket: bucket.into(),
            key: String::new(),
        };
        match store.list(&probe).await {
            Ok(_) => return,
            Err(e) if start.elapsed() > Duration::from_secs(20) => {
                panic!("bucket {bucket} never became usable: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Deterministic incompressible bytes (xorshift).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

async fn download(store: &S3Store, obj: &ObjectUrl) -> Vec<u8> {
    let got = store
        .client()
        .get_object()
        .bucket(&obj.bucket)
        .key(&obj.key)
        .send()
        .await
        .expect("get object");
    let body: BoxRead = Box::pin(got.body.into_async_read());
    let mut out = Vec::new();
    decompress(body, Compression::from_key(&obj.key))
        .read_to_end(&mut out)
        .await
        .expect("decompress");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_round_trip_in_each_format_and_checks_credentials() {
    let server = Seaweed::start(&["backups"]).expect("start SeaweedFS");
    let store = S3Store::new(&settings(&server, SECRET_KEY));
    wait_bucket(&store, "backups").await;

    // A wrong secret is refused by SigV4 verification, and nothing is written.
    let bad = S3Store::new(&settings(&server, "wrong-secret"));
    let prefix = ObjectUrl::parse("backupURL", "s3://backups/c1").unwrap();
    let dest = prefix.backup_object("bad", Compression::Zstd);
    let err = upload_backup(&bad, &dest, Box::pin(&b"x"[..]), &UploadOptions::default())
        .await
        .expect_err("wrong secret must fail");
    println!("wrong secret: {err}");
    assert!(err.to_string().contains("CreateMultipartUpload"), "{err}");
    assert_eq!(store.head(&dest).await.unwrap(), None);

    // 21 MiB: three parts of the 8 MiB default when stored uncompressed.
    let mut data = noise(13 * 1024 * 1024, 7);
    data.extend(std::iter::repeat_n(b'a', 8 * 1024 * 1024));
    for compression in [Compression::Zstd, Compression::Gzip, Compression::None] {
        let dest = prefix.backup_object("c1-2024-01-01T00-00-00", compression);
        let opts = UploadOptions {
            compression,
            ..UploadOptions::default()
        };
        let report = upload_backup(
            &store,
            &dest,
            Box::pin(std::io::Cursor::new(data.clone())),
            &opts,
        )
        .await
        .expect("upload");
        println!("{compression:?}: {report:?}");
        assert_eq!(report.raw_bytes, data.len() as u64);
        assert_eq!(store.head(&dest).await.unwrap(), Some(report.stored_bytes));
        assert_eq!(
            store.head(&temporary_key(&dest)).await.unwrap(),
            None,
            "tmp key left"
        );
        assert!(
            download(&store, &dest).await == data,
            "{compression:?} content differs"
        );
    }
    // The multipart-copy move path (used above 5 GiB) on a small object.
    let dest = prefix.backup_object("c1-partcopy", Compression::None);
    let opts = UploadOptions {
        compression: Compression::None,
        single_copy_limit: 5 * 1024 * 1024,
        ..UploadOptions::default()
    };
    let report = upload_backup(
        &store,
        &dest,
        Box::pin(std::io::Cursor::new(data.clone())),
        &opts,
    )
    .await
    .expect("upload with part copies");
    assert_eq!(store.head(&dest).await.unwrap(), Some(report.stored_bytes));
    assert!(
        download(&store, &dest).await == data,
        "part-copied content differs"
    );
    assert!(no_open_uploads(&store, &prefix).await);
}

/// A source that fails after some parts were sent (as a failed backup stream does).
struct FailingAfter {
    data: std::io::Cursor<Vec<u8>>,
}

impl tokio::io::AsyncRead for FailingAfter {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = std::pin::Pin::new(&mut self.data).poll_read(cx, buf);
        if matches!(res, std::task::Poll::Ready(Ok(()))) && buf.filled().len() == before {
            return std::task::Poll::Ready(Err(std::io::Error::other(
                "backup tool reported failure (X-Backup-Status: Failed)",
            )));
        }
        res
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_source_aborts_the_multipart_upload() {
    let server = Seaweed::start(&["backups"]).expect("start SeaweedFS");
    let store = S3Store::new(&settings(&server, SECRET_KEY));
    wait_bucket(&store, "backups").await;
    let prefix = ObjectUrl::parse("backupURL", "s3://backups/c2/").unwrap();
    let dest = prefix.backup_object("c2-x", Compression::None);
    let src = FailingAfter {
        data: std::io::Cursor::new(noise(20 * 1024 * 1024, 3)),
    };
    let opts = UploadOptions {
        compression: Compression::None,
        ..UploadOptions::default()
    };
    let err = upload_backup(&store, &dest, Box::pin(src), &opts)
        .await
        .expect_err("must fail");
    let msg = err.to_string();
    println!("{msg}");
    assert!(msg.contains("X-Backup-Status: Failed"), "{msg}");
    assert!(msg.contains("aborted"), "{msg}");
    assert_eq!(store.head(&dest).await.unwrap(), None);
    assert_eq!(store.head(&temporary_key(&dest)).await.unwrap(), None);
    assert!(
        no_open_uploads(&store, &prefix).await,
        "multipart upload left open"
    );
}

/// The store may list an aborted upload for a moment; allow it a few seconds.
async fn no_open_uploads(store: &S3Store, prefix: &ObjectUrl) -> bool {
    for _ in 0..25 {
        if store.open_uploads(prefix).await.unwrap().is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_mid_upload_leaves_no_final_object() {
    let mut server = Seaweed::start(&["backups"]).expect("start SeaweedFS");
    let store = S3Store::new(&settings(&server, SECRET_KEY));
    wait_bucket(&store, "backups").await;
    let prefix = ObjectUrl::parse("backupURL", "s3://backups/c3").unwrap();
    let dest = prefix.backup_object("c3-x", Compression::None);

    let (mut writer, reader) = tokio::io::duplex(1024 * 1024);
    let (sent_tx, mut sent_rx) = tokio::sync::watch::channel(0usize);
    let feeder = tokio::spawn(async move {
        let chunk = noise(1024 * 1024, 11);
        for i in 0..80usize {
            if writer.write_all(&chunk).await.is_err() {
                return;
            }
            let _ = sent_tx.send(i + 1);
        }
    });
    let upload_store = store.clone();
    let upload_dest = dest.clone();
    let upload = tokio::spawn(async move {
        let opts = UploadOptions {
            compression: Compression::None,
            ..UploadOptions::default()
        };
        upload_backup(&upload_store, &upload_dest, Box::pin(reader), &opts).await
    });
    // Let two parts go through, then crash the server.
    sent_rx.wait_for(|n| *n >= 20).await.expect("feeder alive");
    server.kill();
    let result = tokio::time::timeout(Duration::from_secs(120), upload)
        .await
        .expect("upload must end by itself after the server died")
        .expect("upload task");
    feeder.abort();
    let err = result.expect_err("upload must fail when the server dies");
    let msg = err.to_string();
    println!("{msg}");
    assert!(
        msg.contains("backup upload to s3://backups/c3/c3-x.xbackup failed"),
        "{msg}"
    );
    assert!(
        msg.contains("UploadPart") || msg.contains("CompleteMultipartUpload"),
        "{msg}"
    );
    assert!(msg.contains("abort"), "{msg}");

    // Same directory, same ports: nothing at the final key or the temporary key.
    server.restart().expect("restart SeaweedFS");
    wait_bucket(&store, "backups").await;
    assert_eq!(
        store.head(&dest).await.unwrap(),
        None,
        "partial backup at the final key"
    );
    assert_eq!(store.head(&temporary_key(&dest)).await.unwrap(), None);
    // The abort could not reach a dead server; the next backup's cleanup aborts it.
    let cleaned = backup::retention::abort_stale_uploads(&store, &prefix)
        .await
        .expect("cleanup");
    println!("stale uploads aborted after restart: {cleaned}");
    assert!(no_open_uploads(&store, &prefix).await);
}
