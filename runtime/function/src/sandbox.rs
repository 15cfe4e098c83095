//! The sandbox's walls made visible: opening a path, the socket
//! constructors, name lookup and any WASI interface the host does not offer
//! (`wasi:http`, say) are replaced by versions that grant nothing and record
//! the attempt, so a call that tried to reach outside fails with
//! `SYS.Permission` naming what was denied, rather than with whatever io
//! error the guest's runtime made of the refusal.
//!
//! A guest sees one preopened directory, `/`, backed by an empty directory
//! of the host that it may only read: asking for the preopens and looking
//! at the empty root are harmless (CPython and StarlingMonkey do both while
//! starting or printing an error), and every path a guest opens reaches
//! `open-at` on that root, where it is refused by name. Without a preopen a
//! guest's libc would refuse an open itself, before the host could see it.

use std::path::Path;

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, Resource, ResourceAny, ResourceType, Val};
use wasmtime::{Engine, format_err};
use wasmtime_wasi::filesystem::Descriptor;
use wasmtime_wasi::filesystem::WasiFilesystemView;
use wasmtime_wasi::p2::bindings::filesystem::types::ErrorCode as FsErrorCode;
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddressFamily};
use wasmtime_wasi::p2::bindings::sync::filesystem::types::{
    DescriptorFlags, HostDescriptor, OpenFlags, PathFlags,
};
use wasmtime_wasi::p2::{
    DynInputStream, DynOutputStream, DynPollable, IoError, Network, TcpSocket, UdpSocket,
};

use super::host_api::HostState;

/// The WASI version `wasmtime_wasi::p2::add_to_linker_sync` defines; the
/// replacements must carry the same names to shadow its functions.
const WASI_VERSION: &str = "0.2.12";

/// Where the guest sees the host's empty directory.
pub(crate) const GUEST_ROOT: &str = "/";

/// WASI packages the linker offers (at 0.2), as wasmtime-wasi defines them;
/// an import of any other `wasi:` interface is linked to refusals.
const OFFERED_WASI: [&str; 6] = [
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:cli/",
    "wasi:filesystem/",
    "wasi:sockets/",
];

/// What a function tried that its sandbox does not offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Denied {
    /// A path, as the guest named it from the root.
    Open(String),
    Network,
    NameLookup,
    /// A function of an interface the host does not offer, `interface#function`.
    Interface(String),
}

impl Denied {
    pub fn message(&self) -> String {
        match self {
            Denied::Open(path) => {
                format!("the function tried to open '{path}'; functions have no filesystem access")
            }
            Denied::Network => {
                "the function tried to open a network socket; functions have no network access"
                    .to_string()
            }
            Denied::NameLookup => {
                "the function tried to resolve a host name; functions have no network access"
                    .to_string()
            }
            Denied::Interface(name) => format!(
                "the function called '{name}', which the sandbox does not offer; functions have no network or other outside access"
            ),
        }
    }
}

/// Makes the empty directory that backs every guest's root.
pub(crate) fn make_empty_root(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    // Something left in it by hand would be visible to `stat`, never readable.
    if std::fs::read_dir(dir)?.next().is_some() {
        return Err(std::io::Error::other(format!(
            "{} must be empty: it is the root functions see",
            dir.display()
        )));
    }
    Ok(())
}

/// Shadows the WASI functions through which a guest reaches files and
/// sockets; call after WASI itself was added.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker
        .instance(&format!("wasi:filesystem/types@{WASI_VERSION}"))?
        .func_wrap(
            "[method]descriptor.open-at",
            |mut store,
             (dir, path_flags, path, open_flags, flags): (
                Resource<Descriptor>,
                PathFlags,
                String,
                OpenFlags,
                DescriptorFlags,
            )| {
                // Looking into the empty root is harmless: CPython's import
                // system lists the directories of its path. The real call
                // finds nothing there but the root itself.
                if open_flags == OpenFlags::DIRECTORY && !flags.contains(DescriptorFlags::WRITE) {
                    let opened = store
                        .data_mut()
                        .filesystem()
                        .open_at(dir, path_flags, path, open_flags, flags);
                    return Ok((match opened {
                        Ok(descriptor) => Ok(descriptor),
                        Err(error) => Err(error.downcast()?),
                    },));
                }
                store.data_mut().deny(Denied::Open(guest_path(&path)));
                Ok((Err::<Resource<Descriptor>, FsErrorCode>(
                    FsErrorCode::Access,
                ),))
            },
        )?;
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

/// A path relative to the root, as the guest would write it.
fn guest_path(relative: &str) -> String {
    match relative.trim_start_matches("./") {
        "" | "." => GUEST_ROOT.to_string(),
        path => format!("{GUEST_ROOT}{path}"),
    }
}

/// Whether the host's linker defines the interface `name` imports.
fn offered(name: &str) -> bool {
    name.starts_with("swirl:function/")
        || OFFERED_WASI
            .iter()
            .any(|package| name.starts_with(package) && name.contains("@0.2."))
}

/// The host's linker, extended for `component` when it imports WASI
/// interfaces the host does not offer: every function of those is linked to
/// a refusal that fails the call with `SYS.Permission` naming it, so that a
/// runtime which merely links `wasi:http` (StarlingMonkey's `fetch`) loads.
pub(crate) fn linker_for(
    engine: &Engine,
    linker: &Linker<HostState>,
    component: &Component,
) -> wasmtime::Result<Option<Linker<HostState>>> {
    let imports: Vec<(String, ComponentItem)> = component
        .component_type()
        .imports(engine)
        .map(|(name, item)| (name.to_string(), item.ty))
        .collect();
    if imports
        .iter()
        .all(|(name, _)| !name.starts_with("wasi:") || offered(name))
    {
        return Ok(None);
    }
    // A refused interface may re-export a resource of an offered one
    // (`wasi:http/types` uses `wasi:io`'s streams): that name must carry the
    // offered interface's host type, the others a type of their own.
    let mut resources: Vec<(ResourceType, ResourceType)> = Vec::new();
    let mut linker = linker.clone();
    for (interface, item) in imports {
        let ComponentItem::ComponentInstance(instance) = item else {
            continue;
        };
        let refused = interface.starts_with("wasi:") && !offered(&interface);
        let mut root = linker.root();
        let mut stubs = root.instance(&interface)?;
        for (name, export) in instance.exports(engine) {
            match export.ty {
                ComponentItem::Resource(ty) if !refused => {
                    if let Some(host) = offered_resource(&interface, name) {
                        resources.push((ty, host));
                    }
                }
                ComponentItem::Resource(ty) => {
                    let host = match resources.iter().find(|(seen, _)| *seen == ty) {
                        Some((_, host)) => *host,
                        None => {
                            let host = ResourceType::host::<Unoffered>();
                            resources.push((ty, host));
                            host
                        }
                    };
                    stubs.resource(name, host, |_, _| Ok(()))?;
                }
                ComponentItem::ComponentFunc(_) if refused => {
                    let denied = format!("{interface}#{name}");
                    stubs.func_new(name, move |mut store, _, _: &[Val], _: &mut [Val]| {
                        store.data_mut().deny(Denied::Interface(denied.clone()));
                        Err(format_err!("refused: {denied} is not offered"))
                    })?;
                }
                _ => {}
            }
        }
    }
    Ok(Some(linker))
}

/// The host type of a resource an offered interface defines, where a
/// refused interface may re-export it.
fn offered_resource(interface: &str, name: &str) -> Option<ResourceType> {
    let (package, _) = interface.split_once('@')?;
    Some(match (package, name) {
        ("wasi:io/streams", "input-stream") => ResourceType::host::<DynInputStream>(),
        ("wasi:io/streams", "output-stream") => ResourceType::host::<DynOutputStream>(),
        ("wasi:io/poll", "pollable") => ResourceType::host::<DynPollable>(),
        ("wasi:io/error", "error") => ResourceType::host::<IoError>(),
        _ => return None,
    })
}

/// The host side of a resource type of an interface the host does not offer.
struct Unoffered;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denied_path_reads_as_the_guest_wrote_it() {
        assert_eq!(guest_path("etc/passwd"), "/etc/passwd");
        assert_eq!(guest_path("./data.json"), "/data.json");
        assert_eq!(guest_path("."), "/");
    }

    #[test]
    fn only_the_wasi_0_2_packages_the_linker_defines_are_offered() {
        assert!(offered("wasi:cli/stdout@0.2.0"));
        assert!(offered("wasi:filesystem/preopens@0.2.10"));
        assert!(offered("swirl:function/host@0.1.0"));
        assert!(!offered("wasi:http/types@0.2.10"));
        assert!(!offered("wasi:clocks/monotonic-clock@0.3.0"));
        assert!(!offered("wasi:keyvalue/store@0.2.0-draft"));
    }
}
