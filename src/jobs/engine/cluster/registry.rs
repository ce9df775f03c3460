//! Object stores on the scheduler and executors: built from the URLs the plans name.
//!
//! Plans carry store URLs (`s3://bucket`, `file://`), never credentials. Each cluster process
//! builds a store the first time a plan names its URL, the same way the service does
//! (`storage::make_store`): S3 through the AWS credential chain (the task's role on ECS, env or
//! profile locally), `AWS_ENDPOINT_URL` for S3-compatible servers.
use std::sync::Arc;

use aws_config::SdkConfig;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use object_store::ObjectStore;
use url::Url;

use crate::jobs::store::make_store;

#[derive(Debug)]
pub struct PlanStores {
    stores: DefaultObjectStoreRegistry,
    sdk: SdkConfig,
}

impl PlanStores {
    /// Loads the AWS SDK configuration once (region, credential chain; nothing is fetched yet).
    pub async fn load() -> Self {
        Self {
            stores: DefaultObjectStoreRegistry::new(),
            sdk: crate::jobs::store::sdk_config().await,
        }
    }
}

impl ObjectStoreRegistry for PlanStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.stores.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.stores.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.stores.get_store(url) {
            return Ok(store);
        }
        let store = make_store(url, Some(&self.sdk))
            .map_err(|e| DataFusionError::Configuration(format!("{e:#}")))?;
        let root = Url::parse(&format!(
            "{}://{}",
            url.scheme(),
            url.host_str().unwrap_or("")
        ))
        .map_err(|e| DataFusionError::Configuration(e.to_string()))?;
        self.stores.register_store(&root, store.clone());
        Ok(store)
    }
}
