//! Opening the provider on a caller-supplied redb storage backend instead
//! of a file: for tests that simulate what a real file cannot show on
//! demand, such as power loss (writes not followed by a sync vanish) or a
//! full disk.

use std::path::PathBuf;

use stateplug_provider_api::ProviderResult;

use crate::config::RedbConfig;
use crate::errors::AtPath;
use crate::provider::RedbProvider;

/// Opens the provider on `backend`, which must be empty or hold a database
/// this provider wrote. `config.path` only names the database in messages:
/// nothing is created or opened there. The rest of `config` applies as for
/// a file.
///
/// For tests only: a storage backend is not part of the provider's
/// interface and may change with redb. Writes make no journal here (as
/// with `"journal": false`); [`open_with_backends`] gives one.
#[doc(hidden)]
pub fn open_with_backend(
    config: &RedbConfig,
    backend: impl redb::StorageBackend,
) -> ProviderResult<RedbProvider> {
    let path = PathBuf::from(config.database_file()?);
    let db = RedbProvider::database_builder(config)
        .create_with_backend(backend)
        .at(&path)?;
    RedbProvider::on_database(db, path, config)
}

/// [`open_with_backend`] with the journal on `journal` (in place of the
/// file `<path>.journal`): its pending records are replayed at open, and
/// writes use it unless `config.journal` is `false`.
///
/// For tests only, as [`open_with_backend`].
#[doc(hidden)]
pub fn open_with_backends(
    config: &RedbConfig,
    backend: impl redb::StorageBackend,
    journal: impl redb::StorageBackend,
) -> ProviderResult<RedbProvider> {
    let path = PathBuf::from(config.database_file()?);
    let db = RedbProvider::database_builder(config)
        .create_with_backend(backend)
        .at(&path)?;
    RedbProvider::on_database_with(
        db,
        path,
        config,
        Some(Box::new(journal)),
        &stateplug_provider_api::OpenContext::READ_WRITE,
    )
}
