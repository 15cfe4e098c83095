//! A FUSE filesystem for power-cut tests, in the spirit of LazyFS: it passes
//! everything through to a backing directory except file data, which stays
//! in memory until the file is `fsync`ed or `fdatasync`ed. A power cut
//! ([`Mounted::cut`]) unmounts it and so drops every write never synced,
//! then mounts the backing directory again as a rebooted machine finds it.
//!
//! ```text
//!  process ──write──▶ kernel ──FUSE──▶ LazyFs ──(pages in memory)
//!          ──fsync──▶        ────────▶        ──apply, fsync──▶ backing dir
//! ```
//!
//! What is modelled: a write is lost unless its file was synced after it,
//! whatever `sync_file_range` or `close` did in between; truncations are
//! lost the same way. What is not: directory entries (create, rename,
//! unlink, mkdir) reach the backing directory at once, as on a file system
//! that journals metadata in order; and nothing is ever torn within a page.

mod pending;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    BackgroundSession, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, MountOption, OpenFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyWrite, Request,
};

pub use pending::Pending;

/// How long the kernel may cache names and attributes; every change goes
/// through this filesystem, so its answers stay right for that long.
const TTL: Duration = Duration::from_secs(1);

/// Why power-cut tests cannot run on this machine, if they cannot.
pub fn unavailable() -> Option<String> {
    match File::options().read(true).write(true).open("/dev/fuse") {
        Ok(_) => None,
        Err(error) => Some(format!(
            "cannot open /dev/fuse ({error}); power-cut tests need FUSE and root"
        )),
    }
}

/// What a cut dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// Files that had writes never synced.
    pub files: usize,
    /// Bytes of those writes (whole pages).
    pub bytes: u64,
}

/// A mounted [`LazyFs`].
pub struct Mounted {
    backing: PathBuf,
    mountpoint: PathBuf,
    session: Option<BackgroundSession>,
    state: Arc<Mutex<State>>,
}

impl Mounted {
    /// Mounts `backing` (an existing directory) at `mountpoint` (an existing, empty one).
    pub fn mount(backing: &Path, mountpoint: &Path) -> io::Result<Mounted> {
        let state = Arc::new(Mutex::new(State::new(backing.to_path_buf())));
        let filesystem = LazyFs {
            state: state.clone(),
        };
        let mut config = fuser::Config::default();
        config.mount_options = vec![
            MountOption::FSName("swirl-lazyfs".into()),
            MountOption::NoAtime,
        ];
        let session = fuser::Session::new(filesystem, mountpoint, &config)?.spawn()?;
        Ok(Mounted {
            backing: backing.to_path_buf(),
            mountpoint: mountpoint.to_path_buf(),
            session: Some(session),
            state,
        })
    }

    /// Unsynced writes held right now.
    pub fn unsynced(&self) -> Dropped {
        lock(&self.state).unsynced()
    }

    /// Cuts the power: unmounts, dropping every write never synced, and
    /// mounts what survived again. Every process using the mount must be
    /// gone first (killed, as a power cut would).
    pub fn cut(mut self) -> io::Result<(Mounted, Dropped)> {
        let dropped = self.unmount()?;
        Ok((Mounted::mount(&self.backing, &self.mountpoint)?, dropped))
    }

    fn unmount(&mut self) -> io::Result<Dropped> {
        if let Some(session) = self.session.take() {
            match session.umount_and_join() {
                // The kernel may end the session's read with ECONNABORTED
                // when the unmount races it: the end of the session all the same.
                Err(error) if error.raw_os_error() == Some(libc::ECONNABORTED) => {}
                result => result?,
            }
        }
        Ok(std::mem::take(&mut *lock(&self.state)).unsynced())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = self.unmount();
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The filesystem: paths by inode, open files, and the pending data.
#[derive(Default)]
struct State {
    paths: HashMap<u64, PathBuf>,
    inodes: HashMap<PathBuf, u64>,
    next_inode: u64,
    handles: HashMap<u64, (u64, File)>,
    next_handle: u64,
    pending: HashMap<u64, Pending>,
}

impl State {
    fn new(backing: PathBuf) -> State {
        let mut state = State {
            next_inode: 2,
            next_handle: 1,
            ..State::default()
        };
        state.paths.insert(INodeNo::ROOT.0, backing.clone());
        state.inodes.insert(backing, INodeNo::ROOT.0);
        state
    }

    fn unsynced(&self) -> Dropped {
        let pending = self.pending.values().filter(|p| p.unsynced_bytes() > 0);
        Dropped {
            files: pending.clone().count(),
            bytes: pending.map(Pending::unsynced_bytes).sum(),
        }
    }

    fn path(&self, inode: INodeNo) -> Result<PathBuf, Errno> {
        self.paths.get(&inode.0).cloned().ok_or(Errno::ENOENT)
    }

    fn child(&self, parent: INodeNo, name: &OsStr) -> Result<PathBuf, Errno> {
        Ok(self.path(parent)?.join(name))
    }

    fn inode(&mut self, path: &Path) -> u64 {
        if let Some(&inode) = self.inodes.get(path) {
            return inode;
        }
        let inode = self.next_inode;
        self.next_inode += 1;
        self.paths.insert(inode, path.to_path_buf());
        self.inodes.insert(path.to_path_buf(), inode);
        inode
    }

    fn forget_path(&mut self, path: &Path) {
        if let Some(inode) = self.inodes.remove(path) {
            self.paths.remove(&inode);
            self.pending.remove(&inode);
        }
    }

    fn attr(&mut self, path: &Path) -> Result<FileAttr, Errno> {
        let metadata = fs::symlink_metadata(path).map_err(errno)?;
        let inode = self.inode(path);
        let size = match self.pending.get(&inode) {
            Some(pending) => pending.visible_len(),
            None => metadata.len(),
        };
        let time = |seconds: i64, nanos: i64| {
            UNIX_EPOCH + Duration::new(seconds.max(0) as u64, nanos.max(0) as u32)
        };
        Ok(FileAttr {
            ino: INodeNo(inode),
            size,
            blocks: size.div_ceil(512),
            atime: time(metadata.atime(), metadata.atime_nsec()),
            mtime: time(metadata.mtime(), metadata.mtime_nsec()),
            ctime: time(metadata.ctime(), metadata.ctime_nsec()),
            crtime: SystemTime::UNIX_EPOCH,
            kind: if metadata.is_dir() {
                FileType::Directory
            } else if metadata.file_type().is_symlink() {
                FileType::Symlink
            } else {
                FileType::RegularFile
            },
            perm: (metadata.mode() & 0o7777) as u16,
            nlink: metadata.nlink() as u32,
            uid: metadata.uid(),
            gid: metadata.gid(),
            rdev: 0,
            blksize: pending::PAGE as u32,
            flags: 0,
        })
    }

    fn open(&mut self, inode: u64, path: &Path) -> Result<u64, Errno> {
        let file = File::options()
            .read(true)
            .write(true)
            .open(path)
            .map_err(errno)?;
        let handle = self.next_handle;
        self.next_handle += 1;
        self.handles.insert(handle, (inode, file));
        Ok(handle)
    }

    fn file(&self, handle: FileHandle) -> Result<&File, Errno> {
        self.handles
            .get(&handle.0)
            .map(|(_, file)| file)
            .ok_or(Errno::EBADF)
    }

    fn pending_for(&mut self, inode: u64, file: &File) -> Result<&mut Pending, Errno> {
        match self.pending.entry(inode) {
            std::collections::hash_map::Entry::Occupied(pending) => Ok(pending.into_mut()),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let len = file.metadata().map_err(errno)?.len();
                Ok(slot.insert(Pending::new(len)))
            }
        }
    }

    /// Makes inode's pending data durable through `file`.
    fn sync(&mut self, inode: u64, file: &File) -> Result<(), Errno> {
        if let Some(pending) = self.pending.remove(&inode) {
            pending.apply(file).map_err(errno)?;
        }
        Ok(())
    }
}

fn errno(error: io::Error) -> Errno {
    Errno::from_i32(error.raw_os_error().unwrap_or(libc::EIO))
}

/// The [`Filesystem`] the kernel talks to.
struct LazyFs {
    state: Arc<Mutex<State>>,
}

impl LazyFs {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Removes a file or directory with `remove`, and forgets its inode.
    fn remove(
        &self,
        parent: INodeNo,
        name: &OsStr,
        remove: fn(&Path) -> io::Result<()>,
        reply: ReplyEmpty,
    ) {
        let mut state = self.state();
        let result = state.child(parent, name).and_then(|path| {
            remove(&path).map_err(errno)?;
            state.forget_path(&path);
            Ok(())
        });
        match result {
            Ok(()) => reply.ok(),
            Err(error) => reply.error(error),
        }
    }
}

impl Filesystem for LazyFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut state = self.state();
        match state.child(parent, name).and_then(|path| state.attr(&path)) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(error) => reply.error(error),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let mut state = self.state();
        match state.path(ino).and_then(|path| state.attr(&path)) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(error) => reply.error(error),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<fuser::TimeOrNow>,
        _mtime: Option<fuser::TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut state = self.state();
        let result = (|| {
            let path = state.path(ino)?;
            if let Some(mode) = mode {
                fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(errno)?;
            }
            if let Some(size) = size {
                let file = match fh {
                    Some(fh) => state.file(fh)?.try_clone().map_err(errno)?,
                    None => File::options().write(true).open(&path).map_err(errno)?,
                };
                state.pending_for(ino.0, &file)?.truncate(size);
            }
            state.attr(&path)
        })();
        match result {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(error) => reply.error(error),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let mut state = self.state();
        let result = state.child(parent, name).and_then(|path| {
            fs::create_dir(&path).map_err(errno)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o7777)).map_err(errno)?;
            state.attr(&path)
        });
        match result {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(error) => reply.error(error),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, |path| fs::remove_file(path), reply);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, |path| fs::remove_dir(path), reply);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        _flags: fuser::RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mut state = self.state();
        let result = (|| {
            let from = state.child(parent, name)?;
            let to = state.child(newparent, newname)?;
            fs::rename(&from, &to).map_err(errno)?;
            state.forget_path(&to);
            // The inode, its pending data and everything under it move along.
            let moved: Vec<(PathBuf, u64)> = state
                .inodes
                .iter()
                .filter(|(path, _)| path.starts_with(&from))
                .map(|(path, &inode)| (path.clone(), inode))
                .collect();
            for (old, inode) in moved {
                // Joining an empty path would add a trailing '/'.
                let new = match old.strip_prefix(&from) {
                    Ok(rest) if !rest.as_os_str().is_empty() => to.join(rest),
                    _ => to.clone(),
                };
                state.inodes.remove(&old);
                state.inodes.insert(new.clone(), inode);
                state.paths.insert(inode, new);
            }
            Ok(())
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(error) => reply.error(error),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let mut state = self.state();
        match state.path(ino).and_then(|path| state.open(ino.0, &path)) {
            Ok(handle) => reply.opened(FileHandle(handle), FopenFlags::empty()),
            Err(error) => reply.error(error),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut state = self.state();
        let result = (|| {
            let path = state.child(parent, name)?;
            let mut options = File::options();
            options.write(true).create(true);
            if flags & libc::O_EXCL != 0 {
                options.create_new(true);
            }
            options.open(&path).map_err(errno)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o7777)).map_err(errno)?;
            let attr = state.attr(&path)?;
            if flags & libc::O_TRUNC != 0 {
                let file = File::options().write(true).open(&path).map_err(errno)?;
                state.pending_for(attr.ino.0, &file)?.truncate(0);
            }
            let handle = state.open(attr.ino.0, &path)?;
            Ok((state.attr(&path)?, handle))
        })();
        match result {
            Ok((attr, handle)) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(handle),
                FopenFlags::empty(),
            ),
            Err(error) => reply.error(error),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        let state = self.state();
        let result = state
            .file(fh)
            .and_then(|file| match state.pending.get(&ino.0) {
                Some(pending) => pending.read(file, offset, u64::from(size)).map_err(errno),
                None => {
                    let mut buffer = vec![0u8; size as usize];
                    let mut filled = 0;
                    while filled < buffer.len() {
                        use std::os::unix::fs::FileExt;
                        match file.read_at(&mut buffer[filled..], offset + filled as u64) {
                            Ok(0) => break,
                            Ok(read) => filled += read,
                            Err(error) => return Err(errno(error)),
                        }
                    }
                    buffer.truncate(filled);
                    Ok(buffer)
                }
            });
        match result {
            Ok(data) => reply.data(&data),
            Err(error) => reply.error(error),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: fuser::WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut state = self.state();
        let result = (|| {
            let file = state.file(fh)?.try_clone().map_err(errno)?;
            state
                .pending_for(ino.0, &file)?
                .write(&file, offset, data)
                .map_err(errno)
        })();
        match result {
            Ok(()) => reply.written(data.len() as u32),
            Err(error) => reply.error(error),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: fuser::LockOwner,
        reply: ReplyEmpty,
    ) {
        // Closing a file makes nothing durable.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.state().handles.remove(&fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut state = self.state();
        let result = state
            .file(fh)
            .and_then(|file| file.try_clone().map_err(errno))
            .and_then(|file| state.sync(ino.0, &file));
        match result {
            Ok(()) => reply.ok(),
            Err(error) => reply.error(error),
        }
    }

    fn opendir(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        reply.opened(FileHandle(0), FopenFlags::empty());
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let mut state = self.state();
        let result = (|| {
            let path = state.path(ino)?;
            let mut entries = vec![
                (ino.0, FileType::Directory, ".".into()),
                (ino.0, FileType::Directory, "..".into()),
            ];
            for entry in fs::read_dir(&path).map_err(errno)? {
                let entry = entry.map_err(errno)?;
                let kind = if entry.file_type().map_err(errno)?.is_dir() {
                    FileType::Directory
                } else {
                    FileType::RegularFile
                };
                let inode = state.inode(&entry.path());
                entries.push((inode, kind, entry.file_name()));
            }
            Ok(entries)
        })();
        match result {
            Ok(entries) => {
                for (index, (inode, kind, name)) in
                    entries.into_iter().enumerate().skip(offset as usize)
                {
                    if reply.add(INodeNo(inode), index as u64 + 1, kind, &name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(error) => reply.error(error),
        }
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // Directory entries are durable at once (see the crate doc).
        reply.ok();
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }
}
