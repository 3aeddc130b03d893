//! The root module of interface 0.1.1 exactly as released, to check a
//! library built against it before viewing its module as this version's
//! (see [`super::frozen_0_1`] for why that is sound). Interface 0.1.2
//! appended `open_with_clock` to the module; the provider object is
//! unchanged since 0.1.1, so this module names this version's.
#![allow(missing_docs)]

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings,
    sabi_types::VersionStrings,
    std_types::{ROption, RResult, RStr},
    StableAbi,
};

use super::{FfiOpen, FfiProviderBox, HostLogger};
use crate::{Capabilities, ProviderError, ProviderInfo};

/// The root module a provider library exports: the one symbol the host looks up.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = ProviderModuleRef)))]
#[sabi(missing_field(panic))]
pub struct ProviderModule {
    pub info: extern "C" fn() -> ProviderInfo,
    pub capabilities: extern "C" fn() -> Capabilities,
    #[sabi(last_prefix_field)]
    pub open: extern "C" fn(
        config_json: RStr<'_>,
        logger: ROption<HostLogger>,
    ) -> RResult<FfiProviderBox, ProviderError>,
    #[sabi(missing_field(option))]
    pub open_with: extern "C" fn(
        config_json: RStr<'_>,
        host: FfiOpen,
    ) -> RResult<FfiProviderBox, ProviderError>,
}

impl RootModule for ProviderModuleRef {
    declare_root_module_statics! {ProviderModuleRef}
    const BASE_NAME: &'static str = "stateplug_provider";
    const NAME: &'static str = "stateplug provider";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
