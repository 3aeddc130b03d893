//! What [`export_provider!`](crate::export_provider) exports: the root
//! module (name, version, capabilities, open) over the adapter in
//! [`adapter`], and the library header abi_stable looks up.

mod adapter;

use abi_stable::{
    library::{CheckTypeLayout, LibHeader, RootModuleResult},
    prefix_type::PrefixTypeTrait,
    std_types::{ROption, RResult, RStr},
};

pub use self::adapter::in_process;
use self::adapter::{guard, info_of};
use crate::{
    ffi::{
        FfiClockBox, FfiOpen, FfiProviderBox, HostLogger, ProviderModule, ProviderModuleRef,
        OPEN_READ_ONLY,
    },
    log_bridge, Capabilities, Clock, OpenContext, Provider, ProviderError, ProviderInfo,
    ProviderResult,
};

/// Ties a provider type to the version of the crate that exports it.
/// Implemented by the type [`export_provider!`](crate::export_provider) generates.
pub trait Export: 'static {
    /// The provider type.
    type Provider: Provider;
    /// The exporting crate's version.
    const VERSION: &'static str;
}

/// Opens `P` from JSON behind the panic guard, as the root module's `open` does.
pub fn open_in_process<P: Provider>(
    config_json: &str,
    context: &OpenContext,
    version: &str,
) -> ProviderResult<FfiProviderBox> {
    guard(|| P::open_with(config_json, context))
        .into_result()
        .map(|p| in_process(p, version))
}

/// Refuses, when the export macro is compiled, declared limits the
/// boundary's frames cannot carry.
pub const fn check_declared_limits(capabilities: Capabilities) {
    if capabilities.limits.max_value_bytes > crate::limits::FRAMABLE_VALUE_BYTES {
        panic!(
            "the provider's CAPABILITIES declare max_value_bytes over 4 GiB - 1 (u32::MAX), \
             more than a frame of the boundary holds: declare at most u32::MAX"
        );
    }
}

extern "C" fn module_info<E: Export>() -> ProviderInfo {
    info_of::<E::Provider>(E::VERSION)
}

extern "C" fn module_capabilities<E: Export>() -> Capabilities {
    E::Provider::CAPABILITIES
}

extern "C" fn module_open<E: Export>(
    config_json: RStr<'_>,
    logger: ROption<HostLogger>,
) -> RResult<FfiProviderBox, ProviderError> {
    module_open_with::<E>(config_json, FfiOpen { logger, flags: 0 })
}

extern "C" fn module_open_with<E: Export>(
    config_json: RStr<'_>,
    host: FfiOpen,
) -> RResult<FfiProviderBox, ProviderError> {
    open_from_host::<E>(config_json, host, Clock::SYSTEM)
}

extern "C" fn module_open_with_clock<E: Export>(
    config_json: RStr<'_>,
    host: FfiOpen,
    clock: FfiClockBox,
) -> RResult<FfiProviderBox, ProviderError> {
    open_from_host::<E>(config_json, host, Clock::from_host(clock))
}

fn open_from_host<E: Export>(
    config_json: RStr<'_>,
    host: FfiOpen,
    clock: Clock,
) -> RResult<FfiProviderBox, ProviderError> {
    if let ROption::RSome(logger) = host.logger {
        log_bridge::install(logger);
    }
    let context = OpenContext {
        read_only: host.flags & OPEN_READ_ONLY != 0,
        clock,
    };
    open_in_process::<E::Provider>(config_json.as_str(), &context, E::VERSION).into()
}

/// Builds the root module of an exported provider.
pub fn root_module<E: Export>() -> ProviderModuleRef {
    ProviderModule {
        info: module_info::<E>,
        capabilities: module_capabilities::<E>,
        open: module_open::<E>,
        open_with: module_open_with::<E>,
        open_with_clock: module_open_with_clock::<E>,
    }
    .leak_into_prefix()
}

extern "C" fn erased_root_module<E: Export>() -> RootModuleResult {
    abi_stable::library::__call_root_module_loader(root_module::<E>)
}

/// The library header [`export_provider!`](crate::export_provider) exports
/// under abi_stable's root-module symbol.
pub const fn lib_header<E: Export>() -> LibHeader {
    // SAFETY: `erased_root_module::<E>` returns the `ProviderModuleRef` built
    // by `root_module::<E>`, erased by abi_stable's own loader helper, which
    // is what `from_constructor::<ProviderModuleRef>` requires.
    unsafe {
        LibHeader::from_constructor::<ProviderModuleRef>(
            erased_root_module::<E>,
            CheckTypeLayout::Yes,
        )
    }
}

/// Exports a [`Provider`] from a `cdylib` crate: the one line a provider author writes.
///
/// ```ignore
/// stateplug_provider_api::export_provider!(MyProvider);
/// ```
///
/// It generates the library's root module (name, version, capabilities and
/// `open`), the ABI adapter with a `catch_unwind` around every entry point,
/// and the bridge that sends the provider's `tracing` events to the host.
/// Use it once per library. It does not compile if the provider's declared
/// limits exceed what the boundary carries.
#[macro_export]
macro_rules! export_provider {
    ($provider:ty) => {
        #[doc(hidden)]
        pub struct __StateplugExport;

        impl $crate::export::Export for __StateplugExport {
            type Provider = $provider;
            const VERSION: &'static str = env!("CARGO_PKG_VERSION");
        }

        const _: () =
            $crate::export::check_declared_limits(<$provider as $crate::Provider>::CAPABILITIES);

        /// The abi_stable root-module symbol the host looks up.
        #[doc(hidden)]
        #[no_mangle]
        #[allow(non_upper_case_globals)]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::__private::LibHeader =
            $crate::export::lib_header::<__StateplugExport>();

        /// Opens this crate's provider in the host's own process, through the
        /// same adapter the loaded library uses.
        pub fn open_in_process(
            config_json: &str,
        ) -> ::std::result::Result<$crate::ffi::FfiProviderBox, $crate::ProviderError> {
            $crate::export::open_in_process::<$provider>(
                config_json,
                &$crate::OpenContext::READ_WRITE,
                env!("CARGO_PKG_VERSION"),
            )
        }

        /// Opens this crate's provider in the host's own process with what
        /// the host asks of it (its clock, say), through the same adapter
        /// the loaded library uses.
        pub fn open_in_process_with(
            config_json: &str,
            context: &$crate::OpenContext,
        ) -> ::std::result::Result<$crate::ffi::FfiProviderBox, $crate::ProviderError> {
            $crate::export::open_in_process::<$provider>(
                config_json,
                context,
                env!("CARGO_PKG_VERSION"),
            )
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_exported_symbol_is_the_one_abi_stable_looks_up() {
        assert_eq!(
            abi_stable::library::ROOT_MODULE_LOADER_NAME,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }
}
