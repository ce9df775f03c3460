//! The S3 server of `make bench-pipeline`: s3s-fs (the project's S3 test server) with one change,
//! how a GetObject body is read.
//!
//! s3s-fs 0.14.1 streams a body 4 KiB at a time through tokio's blocking pool, one pool
//! round trip per 4 KiB. Serving the raw logs of the bench day's filter_data (1.1 GB) that way
//! took it 5.0 CPU-seconds (2026-12-02), twice adrec's own 2.6 for the whole stage; on a 2-core
//! machine the two share the cores, so the bench timed the server. This server took 0.9 for the
//! same GETs. Every request is s3s-fs's own (its SigV4 check, paths, errors, ETag and headers);
//! only the bytes of a GetObject body are read again from the same file, 1 MiB at a time on one
//! blocking thread per request.
//!
//!     s3-bench-server --host 127.0.0.1 --port 9000 --access-key K --secret-key S ROOT
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::dto::*;
use s3s::service::S3ServiceBuilder;
use s3s::{S3, S3Error, S3Request, S3Response, S3Result};
use s3s_fs::FileSystem;
use tokio::sync::mpsc;

/// Bytes per read of a GetObject body.
const CHUNK: u64 = 1 << 20;

struct Server {
    fs: FileSystem,
    root: PathBuf,
}

impl Server {
    async fn get_object_fast(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let path = self.root.join(&req.input.bucket).join(&req.input.key);
        let range = req.input.range;
        // Everything but the body is s3s-fs's answer; its body, not yet read, is replaced.
        let mut resp = self.fs.get_object(req).await?;
        let file_len = tokio::fs::metadata(&path)
            .await
            .map_err(S3Error::internal_error)?
            .len();
        let start = match range {
            Some(r) => r.check(file_len).map_err(S3Error::internal_error)?.start,
            None => 0,
        };
        let len = resp.output.content_length.unwrap_or(0).max(0) as u64;
        let (tx, rx) = mpsc::channel(2);
        tokio::task::spawn_blocking(move || {
            if let Err(e) = read_range(&path, start, len, &tx) {
                let _ = tx.blocking_send(Err(e));
            }
        });
        resp.output.body = Some(StreamingBlob::wrap(Chunks(rx)));
        Ok(resp)
    }
}

/// Sends `len` bytes of `path` from `start`, in chunks; stops early if the client went away.
fn read_range(
    path: &Path,
    start: u64,
    len: u64,
    tx: &mpsc::Sender<io::Result<Bytes>>,
) -> io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut left = len;
    while left > 0 {
        let mut buf = vec![0; left.min(CHUNK) as usize];
        file.read_exact(&mut buf)?;
        left -= buf.len() as u64;
        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
            break;
        }
    }
    Ok(())
}

struct Chunks(mpsc::Receiver<io::Result<Bytes>>);

impl futures_core::Stream for Chunks {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// The S3 implementation: every operation s3s-fs implements, by s3s-fs, but GetObject.
macro_rules! server_s3 {
    ($($op:ident: $input:ident => $output:ident),* $(,)?) => {
        #[async_trait::async_trait]
        impl S3 for Server {
            $(
                async fn $op(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    self.fs.$op(req).await
                }
            )*

            async fn get_object(
                &self,
                req: S3Request<GetObjectInput>,
            ) -> S3Result<S3Response<GetObjectOutput>> {
                self.get_object_fast(req).await
            }
        }
    };
}

server_s3! {
    abort_multipart_upload: AbortMultipartUploadInput => AbortMultipartUploadOutput,
    complete_multipart_upload: CompleteMultipartUploadInput => CompleteMultipartUploadOutput,
    copy_object: CopyObjectInput => CopyObjectOutput,
    create_bucket: CreateBucketInput => CreateBucketOutput,
    create_multipart_upload: CreateMultipartUploadInput => CreateMultipartUploadOutput,
    delete_bucket: DeleteBucketInput => DeleteBucketOutput,
    delete_object: DeleteObjectInput => DeleteObjectOutput,
    delete_objects: DeleteObjectsInput => DeleteObjectsOutput,
    get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput,
    head_bucket: HeadBucketInput => HeadBucketOutput,
    head_object: HeadObjectInput => HeadObjectOutput,
    list_buckets: ListBucketsInput => ListBucketsOutput,
    list_objects: ListObjectsInput => ListObjectsOutput,
    list_objects_v2: ListObjectsV2Input => ListObjectsV2Output,
    list_parts: ListPartsInput => ListPartsOutput,
    put_object: PutObjectInput => PutObjectOutput,
    upload_part: UploadPartInput => UploadPartOutput,
    upload_part_copy: UploadPartCopyInput => UploadPartCopyOutput,
}

struct Args {
    host: String,
    port: u16,
    access_key: String,
    secret_key: String,
    root: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: s3-bench-server --host H --port P --access-key K --secret-key S ROOT";
    let (mut host, mut port, mut ak, mut sk, mut root) = (None, None, None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value; {usage}"));
        match a.as_str() {
            "--host" => host = Some(value()?),
            "--port" => port = Some(value()?.parse().map_err(|e| format!("--port: {e}"))?),
            "--access-key" => ak = Some(value()?),
            "--secret-key" => sk = Some(value()?),
            _ if !a.starts_with("--") && root.is_none() => root = Some(PathBuf::from(&a)),
            _ => return Err(format!("unexpected argument {a}; {usage}")),
        }
    }
    match (host, port, ak, sk, root) {
        (Some(host), Some(port), Some(access_key), Some(secret_key), Some(root)) => Ok(Args {
            host,
            port,
            access_key,
            secret_key,
            root,
        }),
        _ => Err(usage.to_owned()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    // s3s-fs resolves paths under the canonical root; so does the fast path.
    let root = std::env::current_dir()?.join(&args.root).canonicalize()?;
    let server = Server {
        fs: FileSystem::new(&root).map_err(|e| format!("{e:?}"))?,
        root,
    };
    let mut builder = S3ServiceBuilder::new(server);
    builder.set_auth(SimpleAuth::from_single(args.access_key, args.secret_key));
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await?;
    let http = ConnBuilder::new(TokioExecutor::new());
    loop {
        let (socket, _) = listener.accept().await?;
        let conn = http
            .serve_connection(TokioIo::new(socket), service.clone())
            .into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}
