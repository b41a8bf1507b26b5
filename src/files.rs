//! Files opslab writes for its users (results, reports, keys): whole or not at all.

use std::io::Write;
use std::path::Path;

/// Writes a file atomically: a temporary file beside it, then a rename, so that a reader never
/// sees half a file and an interrupted write leaves the previous one intact.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
