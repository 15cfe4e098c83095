//! The sandbox's walls made visible: WASI's filesystem preopens, socket
//! constructors and name lookup are replaced by versions that grant nothing and record the
//! attempt, so a call that tried to reach outside fails with
//! `SYS.Permission` naming what was denied, rather than with whatever io
//! error the guest's libc made of the refusal.

use wasmtime::component::{Linker, Resource, ResourceAny};
use wasmtime_wasi::filesystem::Descriptor;
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddressFamily};
use wasmtime_wasi::p2::{Network, TcpSocket, UdpSocket};

use super::host_api::HostState;

/// The WASI version `wasmtime_wasi::p2::add_to_linker_sync` defines; the
/// replacements must carry the same names to shadow its functions.
const WASI_VERSION: &str = "0.2.12";

/// What a function tried that its sandbox does not offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denied {
    Filesystem,
    Network,
    NameLookup,
}

impl Denied {
    pub fn message(self) -> &'static str {
        match self {
            Denied::Filesystem => {
                "the function tried to open a file; functions have no filesystem access"
            }
            Denied::Network => {
                "the function tried to open a network socket; functions have no network access"
            }
            Denied::NameLookup => {
                "the function tried to resolve a host name; functions have no network access"
            }
        }
    }
}

/// Shadows the WASI functions through which a guest reaches files and
/// sockets; call after WASI itself was added.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    // wasi-libc asks for the preopened directories on a guest's first path
    // operation; with none granted every open fails, so the question is the attempt.
    linker
        .instance(&format!("wasi:filesystem/preopens@{WASI_VERSION}"))?
        .func_wrap("get-directories", |mut store, (): ()| {
            store.data_mut().deny(Denied::Filesystem);
            Ok((Vec::<(Resource<Descriptor>, String)>::new(),))
        })?;
    linker
        .instance(&format!("wasi:sockets/tcp-create-socket@{WASI_VERSION}"))?
        .func_wrap(
            "create-tcp-socket",
            |mut store, (_,): (IpAddressFamily,)| {
                store.data_mut().deny(Denied::Network);
                Ok((Err::<Resource<TcpSocket>, _>(ErrorCode::AccessDenied),))
            },
        )?;
    linker
        .instance(&format!("wasi:sockets/udp-create-socket@{WASI_VERSION}"))?
        .func_wrap(
            "create-udp-socket",
            |mut store, (_,): (IpAddressFamily,)| {
                store.data_mut().deny(Denied::Network);
                Ok((Err::<Resource<UdpSocket>, _>(ErrorCode::AccessDenied),))
            },
        )?;
    // The stream type is private to WASI; the refusal never makes one, and
    // `ResourceAny` type-checks against whichever resource the import names.
    linker
        .instance(&format!("wasi:sockets/ip-name-lookup@{WASI_VERSION}"))?
        .func_wrap(
            "resolve-addresses",
            |mut store, (_, _): (Resource<Network>, String)| {
                store.data_mut().deny(Denied::NameLookup);
                Ok((Err::<ResourceAny, _>(ErrorCode::PermanentResolverFailure),))
            },
        )?;
    linker.allow_shadowing(false);
    Ok(())
}
