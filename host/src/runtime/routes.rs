//! `Routes`: which provider holds each plugin's state.

use std::{collections::HashMap, sync::Arc};

use crate::{
    layers::{Layered, WatchLayer},
    store::StateStore,
};

/// One provider of a host: its name, its store (with the host's layers)
/// and the watch layer inside them.
pub(crate) struct Route {
    /// The provider's name.
    pub(crate) name: String,
    /// The layered store plugins use.
    pub(crate) store: Arc<dyn StateStore>,
    /// The watch layer every write to `store` passes.
    pub(crate) watch: Arc<Layered<WatchLayer>>,
}

/// Every provider of a host, the default first, and the plugins routed
/// elsewhere. A store_id is a plugin id, so routing a store_id is routing a
/// plugin; store_ids no plugin owns go to the default provider. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Routes {
    inner: Arc<Inner>,
}

struct Inner {
    routes: Vec<Route>,
    by_plugin: HashMap<String, usize>,
}

impl Routes {
    /// `routes` must not be empty (the builder refuses a host without a
    /// provider); `by_plugin` indexes into it.
    pub(crate) fn new(routes: Vec<Route>, by_plugin: HashMap<String, usize>) -> Self {
        Routes {
            inner: Arc::new(Inner { routes, by_plugin }),
        }
    }

    /// The provider holding `store_id`.
    pub(crate) fn route(&self, store_id: &str) -> &Route {
        let index = self.inner.by_plugin.get(store_id).copied().unwrap_or(0);
        &self.inner.routes[index]
    }

    /// The default provider.
    pub(crate) fn default_route(&self) -> &Route {
        &self.inner.routes[0]
    }

    /// Every provider, the default first.
    pub(crate) fn all(&self) -> &[Route] {
        &self.inner.routes
    }
}
