//! The lab folder as a confinement: every path a lab names resolves inside its folder after
//! following links; pipes, devices and sockets are refused (reading one hangs or never ends);
//! walks are bounded and loop-safe; reads are bounded. Must not read anything before its kind
//! and place are known.

use std::collections::HashSet;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The most files a walk of a lab folder lists.
pub const MAX_FILES: usize = 10_000;
/// The deepest a walk goes below its start.
pub const MAX_DEPTH: usize = 32;
/// The largest text file (a template, a brief, a grader module) opslab reads.
pub const MAX_TEXT_BYTES: u64 = 1 << 20;
/// The largest lab.toml (ten thousand checks take about 1.2 MB).
pub const MAX_LAB_TOML_BYTES: u64 = 16 << 20;
/// The largest file copied into a container.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Why a path of a lab cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Missing,
    /// Resolves to this path, outside the folder.
    Outside(PathBuf),
    /// A pipe, device or socket.
    Special(&'static str),
    /// Links that lead back to themselves.
    Loop,
    TooLarge(u64),
    TooMany,
    TooDeep,
    Unreadable(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing => write!(f, "does not exist"),
            Problem::Outside(p) => write!(f, "leads outside the lab folder (to {})", p.display()),
            Problem::Special(k) => write!(f, "is a {k}, not a file or folder"),
            Problem::Loop => write!(f, "is a loop of links"),
            Problem::TooLarge(n) => write!(f, "is too large ({n} bytes)"),
            Problem::TooMany => write!(f, "holds more than {MAX_FILES} files"),
            Problem::TooDeep => write!(f, "nests folders more than {MAX_DEPTH} deep"),
            Problem::Unreadable(e) => write!(f, "cannot be read: {e}"),
        }
    }
}

impl Problem {
    fn from_io(e: &std::io::Error) -> Problem {
        match e.kind() {
            std::io::ErrorKind::NotFound => Problem::Missing,
            _ if e.raw_os_error() == Some(40) => Problem::Loop, // ELOOP
            _ => Problem::Unreadable(e.to_string()),
        }
    }
}

/// What a file's metadata says it is, when it is not a file, folder or link.
fn special_kind(ft: &std::fs::FileType) -> Option<&'static str> {
    if ft.is_fifo() {
        Some("named pipe")
    } else if ft.is_socket() {
        Some("socket")
    } else if ft.is_block_device() || ft.is_char_device() {
        Some("device")
    } else {
        None
    }
}

/// The canonical path of `root`, or `root` itself when it cannot be resolved.
pub fn canonical_root(root: &Path) -> PathBuf {
    root.canonicalize().unwrap_or_else(|_| root.to_path_buf())
}

/// `rel` (relative to `root`) resolved through its links: it must exist, stay inside `root`
/// and be a regular file or a folder.
pub fn resolve(root: &Path, rel: &str) -> Result<PathBuf, Problem> {
    let base = canonical_root(root);
    let target = root
        .join(rel)
        .canonicalize()
        .map_err(|e| Problem::from_io(&e))?;
    if !target.starts_with(&base) {
        return Err(Problem::Outside(target));
    }
    let meta = std::fs::metadata(&target).map_err(|e| Problem::from_io(&e))?;
    if let Some(k) = special_kind(&meta.file_type()) {
        return Err(Problem::Special(k));
    }
    Ok(target)
}

/// Reads a regular file inside `root`, at most `limit` bytes.
pub fn read_inside(root: &Path, rel: &str, limit: u64) -> Result<Vec<u8>, Problem> {
    let path = resolve(root, rel)?;
    read_regular(&path, limit)
}

/// Reads `path` when it is a regular file of at most `limit` bytes (a pipe is never opened).
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, Problem> {
    let meta = std::fs::metadata(path).map_err(|e| Problem::from_io(&e))?;
    if let Some(k) = special_kind(&meta.file_type()) {
        return Err(Problem::Special(k));
    }
    if meta.is_dir() {
        return Err(Problem::Unreadable("it is a folder".into()));
    }
    if meta.len() > limit {
        return Err(Problem::TooLarge(meta.len()));
    }
    let mut out = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut out))
        .map_err(|e| Problem::from_io(&e))?;
    if out.len() as u64 > limit {
        return Err(Problem::TooLarge(out.len() as u64));
    }
    Ok(out)
}

/// A file met by a walk: its path as reached (under the walk's start) and its resolved path.
#[derive(Debug, Clone)]
pub struct Walked {
    pub path: PathBuf,
    pub real: PathBuf,
}

/// Every regular file under `dir` (inside `root`), sorted by path. Links are followed only
/// while they stay inside `root`; each folder is entered once (two links to `.` do not loop).
/// The first problem met is returned with the path it concerns.
pub fn walk(root: &Path, dir: &Path) -> Result<Vec<Walked>, (PathBuf, Problem)> {
    walk_inner(root, dir, true)
}

/// Like [`walk`], but what cannot be used (special files, links out, loops) is skipped, and the
/// walk stops quietly at [`MAX_FILES`]: for folders opslab owns (images, graders, results).
pub fn walk_lenient(dir: &Path) -> Vec<PathBuf> {
    walk_inner(dir, dir, false)
        .unwrap_or_default()
        .into_iter()
        .map(|w| w.path)
        .collect()
}

fn walk_inner(root: &Path, dir: &Path, strict: bool) -> Result<Vec<Walked>, (PathBuf, Problem)> {
    let base = canonical_root(root);
    let mut out = Vec::new();
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    while let Some((d, depth)) = stack.pop() {
        let entries = match folder_entries(&base, &d, depth, &mut seen) {
            Ok(Some(e)) => e,
            Ok(None) => continue,
            Err(p) if strict => return Err((d, p)),
            Err(_) => continue,
        };
        let mut folders = Vec::new();
        for (p, real) in entries {
            match entry(&base, &p, real) {
                Ok((_, true)) => folders.push((p, depth + 1)),
                Ok((real, false)) => {
                    out.push(Walked { path: p, real });
                    if out.len() > MAX_FILES {
                        if strict {
                            return Err((dir.to_path_buf(), Problem::TooMany));
                        }
                        out.truncate(MAX_FILES);
                        stack.clear();
                        break;
                    }
                }
                Err(problem) if strict => return Err((p, problem)),
                Err(_) => {}
            }
        }
        // Pushed in reverse so that folders are walked in order.
        stack.extend(folders.into_iter().rev());
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// A tar of the folder `dir` under `prefix`: the files of [`walk`] (links followed only while
/// they stay inside `dir`, no special file), with their modes, and the folders that hold them.
pub fn tar_folder(dir: &Path, prefix: &Path) -> Result<Vec<u8>, String> {
    let files = walk(dir, dir).map_err(|(p, problem)| format!("{}: {problem}", p.display()))?;
    let mut b = tar::Builder::new(Vec::new());
    let mut folders = std::collections::BTreeSet::new();
    folders.insert(PathBuf::new());
    for f in &files {
        let rel = f.path.strip_prefix(dir).unwrap_or(&f.path);
        let mut parent = rel.parent();
        while let Some(p) = parent {
            folders.insert(p.to_path_buf());
            parent = p.parent();
        }
    }
    for folder in &folders {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_mtime(
            std::fs::metadata(dir.join(folder))
                .map(|m| u64::try_from(m.mtime()).unwrap_or(0))
                .unwrap_or(0),
        );
        h.set_size(0);
        b.append_data(&mut h, prefix.join(folder), std::io::empty())
            .map_err(|e| e.to_string())?;
    }
    for f in &files {
        let rel = f.path.strip_prefix(dir).unwrap_or(&f.path);
        let data = read_regular(&f.real, MAX_FILE_BYTES)
            .map_err(|p| format!("{}: {p}", f.path.display()))?;
        let meta = std::fs::metadata(&f.real).map_err(|e| e.to_string())?;
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777;
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        // Kept as the tar crate kept them before: make and friends compare modification times.
        h.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
        h.set_size(data.len() as u64);
        b.append_data(&mut h, prefix.join(rel), data.as_slice())
            .map_err(|e| e.to_string())?;
    }
    b.into_inner().map_err(|e| e.to_string())
}

/// The sorted entries of folder `d` (as reached, and resolved), or `None` when it was already
/// walked (a link back to it).
fn folder_entries(
    base: &Path,
    d: &Path,
    depth: usize,
    seen: &mut HashSet<(u64, u64)>,
) -> Result<Option<Vec<(PathBuf, PathBuf)>>, Problem> {
    let real = d.canonicalize().map_err(|e| Problem::from_io(&e))?;
    if !real.starts_with(base) {
        return Err(Problem::Outside(real));
    }
    let meta = std::fs::metadata(&real).map_err(|e| Problem::from_io(&e))?;
    if !seen.insert((meta.dev(), meta.ino())) {
        return Ok(None);
    }
    if depth > MAX_DEPTH {
        return Err(Problem::TooDeep);
    }
    let rd = std::fs::read_dir(d).map_err(|e| Problem::from_io(&e))?;
    let mut entries: Vec<(PathBuf, PathBuf)> = rd
        .filter_map(Result::ok)
        .map(|e| (e.path(), real.join(e.file_name())))
        .collect();
    entries.sort();
    Ok(Some(entries))
}

/// One entry of a folder: its resolved path and whether it is a folder (`real`: the entry in
/// its parent's resolved folder).
fn entry(base: &Path, p: &Path, real: PathBuf) -> Result<(PathBuf, bool), Problem> {
    let lmeta = std::fs::symlink_metadata(p).map_err(|e| Problem::from_io(&e))?;
    let ft = lmeta.file_type();
    if let Some(k) = special_kind(&ft) {
        return Err(Problem::Special(k));
    }
    if !ft.is_symlink() {
        return Ok((real, lmeta.is_dir()));
    }
    let real = p.canonicalize().map_err(|e| Problem::from_io(&e))?;
    if !real.starts_with(base) {
        return Err(Problem::Outside(real));
    }
    let meta = std::fs::metadata(&real).map_err(|e| Problem::from_io(&e))?;
    if let Some(k) = special_kind(&meta.file_type()) {
        return Err(Problem::Special(k));
    }
    Ok((real, meta.is_dir()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_folder_is_tarred_with_its_files_and_folders_and_no_link_out() {
        let t = tempfile::tempdir().expect("a temporary folder");
        let root = t.path();
        std::fs::create_dir_all(root.join("ops/down")).expect("mkdir");
        std::fs::write(root.join("solve.sh"), "#!/bin/bash\n").expect("write");
        std::fs::write(root.join("ops/down/1.sql"), "x").expect("write");
        symlink("solve.sh", root.join("again.sh")).expect("link");
        let tar = tar_folder(root, Path::new("tmp/s")).expect("a tar");
        let mut a = tar::Archive::new(tar.as_slice());
        let names: Vec<String> = a
            .entries()
            .expect("entries")
            .map(|e| {
                e.expect("an entry")
                    .path()
                    .expect("a path")
                    .display()
                    .to_string()
            })
            .collect();
        for want in [
            "tmp/s",
            "tmp/s/ops/down",
            "tmp/s/solve.sh",
            "tmp/s/again.sh",
            "tmp/s/ops/down/1.sql",
        ] {
            assert!(
                names.iter().any(|n| n.trim_end_matches('/') == want),
                "{want} in {names:?}"
            );
        }
        symlink("/etc/passwd", root.join("leak")).expect("link");
        assert!(tar_folder(root, Path::new("tmp/s")).is_err());
    }

    #[test]
    fn links_to_dot_do_not_loop_and_links_out_are_refused() {
        let t = tempfile::tempdir().expect("a temporary folder");
        let root = t.path();
        std::fs::write(root.join("a"), "x").expect("write");
        symlink(".", root.join("l1")).expect("link");
        symlink(".", root.join("l2")).expect("link");
        let files = walk(root, root).expect("walks");
        assert_eq!(files.len(), 1);
        symlink("/etc/passwd", root.join("out")).expect("link");
        assert!(matches!(walk(root, root), Err((_, Problem::Outside(_)))));
        assert!(matches!(resolve(root, "out"), Err(Problem::Outside(_))));
    }
}
