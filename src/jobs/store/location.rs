//! Where the pipeline's files live: `RAW_URL` and `WORK_URL`, each a directory in an object store.
//!
//! DataFusion reads and writes through object_store. Bookkeeping (listing inputs, manifests,
//! deleting a rerun's stale files) goes through the S3 SDK on `s3://`, where it gives the clearest
//! errors (missing bucket, access denied), and through object_store on `file://` and `memory://`.
use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use url::Url;

use super::aws;
use crate::config::StorageConfig;

/// One object under a location, with its key relative to the location.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub rel: String,
    pub size: u64,
}

/// A directory in an object store.
#[derive(Clone)]
pub struct Location {
    /// Always ends with `/`.
    pub url: Url,
    /// The store DataFusion resolves `url` to; registered on every job's session.
    pub store: Arc<dyn ObjectStore>,
    /// The store's root URL (`s3://bucket`, `file://`, `memory://`), as registered.
    pub store_url: Url,
    /// The key prefix inside the store, with a trailing `/` unless empty.
    prefix: String,
    sdk: Option<(aws_sdk_s3::Client, String)>,
}

/// Raw inputs and work outputs, built once from the configuration.
#[derive(Clone)]
pub struct Storage {
    pub raw: Location,
    pub work: Location,
}

impl Storage {
    pub async fn from_config(cfg: &StorageConfig) -> anyhow::Result<Self> {
        let needs_aws = [&cfg.raw_url, &cfg.work_url]
            .iter()
            .any(|u| u.scheme() == "s3");
        let sdk = if needs_aws {
            Some(aws::sdk_config().await)
        } else {
            None
        };
        // Locations in the same bucket (or both in memory) share one store instance.
        let mut stores: HashMap<String, Arc<dyn ObjectStore>> = HashMap::new();
        let mut location = |url: &Url| -> anyhow::Result<Location> {
            let key = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
            let store = match stores.get(&key) {
                Some(s) => s.clone(),
                None => {
                    let s = make_store(url, sdk.as_ref())?;
                    stores.insert(key.clone(), s.clone());
                    s
                }
            };
            let s3 = sdk.as_ref().filter(|_| url.scheme() == "s3").map(|sdk| {
                (
                    aws::s3_client(sdk),
                    url.host_str().unwrap_or_default().to_owned(),
                )
            });
            Ok(Location::new(url.clone(), Url::parse(&key)?, store, s3))
        };
        Ok(Self {
            raw: location(&cfg.raw_url)?,
            work: location(&cfg.work_url)?,
        })
    }
}

pub fn make_store(
    url: &Url,
    sdk: Option<&aws_config::SdkConfig>,
) -> anyhow::Result<Arc<dyn ObjectStore>> {
    Ok(match url.scheme() {
        "file" => Arc::new(LocalFileSystem::new()),
        "memory" => Arc::new(InMemory::new()),
        "s3" => {
            let sdk = sdk.context("S3 needs the AWS SDK configuration")?;
            let bucket = url.host_str().context("s3 URL without a bucket")?;
            let mut b = AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(sdk.region().map_or("us-east-1", |r| r.as_ref()));
            if let Some(provider) = sdk.credentials_provider() {
                b = b.with_credentials(Arc::new(aws::CachedCredentials::new(provider)));
            }
            if let Some(endpoint) = sdk.endpoint_url() {
                b = b
                    .with_endpoint(endpoint)
                    .with_allow_http(endpoint.starts_with("http://"))
                    .with_virtual_hosted_style_request(false);
            }
            Arc::new(b.build().context("configuring the S3 object store")?)
        }
        other => anyhow::bail!("unsupported storage scheme {other}"),
    })
}

impl Location {
    pub fn new(
        url: Url,
        store_url: Url,
        store: Arc<dyn ObjectStore>,
        sdk: Option<(aws_sdk_s3::Client, String)>,
    ) -> Self {
        let path = url.path().trim_start_matches('/');
        let prefix = percent_encoding::percent_decode_str(path)
            .decode_utf8_lossy()
            .into_owned();
        Self {
            url,
            store,
            store_url,
            prefix,
            sdk,
        }
    }

    /// The full URL of `rel`, as DataFusion wants it.
    pub fn url_of(&self, rel: &str) -> String {
        format!("{}{}", self.url, rel)
    }

    /// The object key of `rel` inside the store.
    pub fn key(&self, rel: &str) -> String {
        format!("{}{}", self.prefix, rel)
    }

    /// Every object under `rel` (recursively), keys relative to this location, sorted.
    pub async fn list(&self, rel: &str) -> anyhow::Result<Vec<Entry>> {
        let prefix = self.key(rel);
        let mut out = Vec::new();
        if let Some((client, bucket)) = &self.sdk {
            let mut pages = client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(&prefix)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| s3_error(e, bucket, &prefix))?;
                for o in page.contents() {
                    if let Some(k) = o.key() {
                        out.push(Entry {
                            rel: k[self.prefix.len()..].to_owned(),
                            size: o.size().unwrap_or(0).max(0) as u64,
                        });
                    }
                }
            }
        } else {
            let path = ObjPath::from(prefix.trim_end_matches('/'));
            let mut stream = self.store.list(Some(&path));
            while let Some(meta) = stream.try_next().await.or_else(not_found_is_empty)? {
                let key = meta.location.to_string();
                if key.starts_with(&prefix) || format!("{key}/") == prefix {
                    out.push(Entry {
                        rel: key[self.prefix.len()..].to_owned(),
                        size: meta.size,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(out)
    }

    pub async fn get(&self, rel: &str) -> anyhow::Result<Option<Bytes>> {
        let key = self.key(rel);
        if let Some((client, bucket)) = &self.sdk {
            return match client.get_object().bucket(bucket).key(&key).send().await {
                Ok(o) => Ok(Some(
                    o.body
                        .collect()
                        .await
                        .context("reading from S3")?
                        .into_bytes(),
                )),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
                Err(e) => Err(s3_error(e, bucket, &key)),
            };
        }
        match self.store.get(&ObjPath::from(key.as_str())).await {
            Ok(r) => Ok(Some(r.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.url_of(rel))),
        }
    }

    pub async fn put(&self, rel: &str, body: Bytes) -> anyhow::Result<()> {
        let key = self.key(rel);
        if let Some((client, bucket)) = &self.sdk {
            client
                .put_object()
                .bucket(bucket)
                .key(&key)
                .body(body.into())
                .send()
                .await
                .map_err(|e| s3_error(e, bucket, &key))?;
            return Ok(());
        }
        self.store
            .put(&ObjPath::from(key.as_str()), PutPayload::from_bytes(body))
            .await
            .with_context(|| format!("writing {}", self.url_of(rel)))?;
        Ok(())
    }

    /// Deletes the given objects (relative keys); missing ones are fine.
    pub async fn delete(&self, rels: &[String]) -> anyhow::Result<()> {
        if let Some((client, bucket)) = &self.sdk {
            use aws_sdk_s3::types::{Delete, ObjectIdentifier};
            for chunk in rels.chunks(1000) {
                let ids = chunk
                    .iter()
                    .map(|r| ObjectIdentifier::builder().key(self.key(r)).build())
                    .collect::<Result<Vec<_>, _>>()?;
                let delete = Delete::builder()
                    .set_objects(Some(ids))
                    .quiet(true)
                    .build()?;
                client
                    .delete_objects()
                    .bucket(bucket)
                    .delete(delete)
                    .send()
                    .await
                    .map_err(|e| s3_error(e, bucket, &self.prefix))?;
            }
            return Ok(());
        }
        for rel in rels {
            match self
                .store
                .delete(&ObjPath::from(self.key(rel).as_str()))
                .await
            {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e).with_context(|| format!("deleting {}", self.url_of(rel))),
            }
        }
        Ok(())
    }
}

fn not_found_is_empty(
    e: object_store::Error,
) -> Result<Option<object_store::ObjectMeta>, object_store::Error> {
    match e {
        object_store::Error::NotFound { .. } => Ok(None),
        e => Err(e),
    }
}

/// S3 SDK errors, reworded: the service code and the bucket/key, never credentials.
fn s3_error<E, R>(e: aws_sdk_s3::error::SdkError<E, R>, bucket: &str, key: &str) -> anyhow::Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let what = match e.as_service_error() {
        Some(s) => match s.code() {
            Some("NoSuchBucket") => format!("S3 bucket {bucket:?} does not exist"),
            Some("AccessDenied") => format!("access denied to s3://{bucket}/{key}"),
            code => format!(
                "S3 error {} on s3://{bucket}/{key}",
                code.unwrap_or("unknown")
            ),
        },
        None => format!("cannot reach S3 for s3://{bucket}/{key}"),
    };
    anyhow!(e).context(what)
}
