//! Where opslab finds its labs, images and grader modules, and where it keeps its state.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
}

impl Project {
    /// `OPSLAB_ROOT`, else the nearest folder above the working directory holding `images/`
    /// and `labs/`, else the folder opslab was built from.
    pub fn discover() -> Project {
        if let Some(r) = std::env::var_os("OPSLAB_ROOT") {
            return Project {
                root: PathBuf::from(r),
            };
        }
        if let Ok(cwd) = std::env::current_dir() {
            for dir in cwd.ancestors() {
                if dir.join("images").is_dir() && dir.join("labs").is_dir() {
                    return Project {
                        root: dir.to_path_buf(),
                    };
                }
            }
        }
        Project {
            root: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        }
    }

    pub fn at(root: &Path) -> Project {
        Project {
            root: root.to_path_buf(),
        }
    }

    pub fn labs_dir(&self) -> PathBuf {
        self.root.join("labs")
    }

    pub fn images_dir(&self) -> PathBuf {
        self.root.join("images")
    }

    pub fn graders_dir(&self) -> PathBuf {
        self.root.join("graders")
    }

    /// A lab given by id (a folder of labs/) or by path.
    pub fn lab_path(&self, lab: &str) -> PathBuf {
        let p = Path::new(lab);
        if p.join("lab.toml").exists() || p.is_file() {
            p.to_path_buf()
        } else {
            self.labs_dir().join(lab)
        }
    }

    pub fn image_names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.images_dir())
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| e.path().join("Dockerfile").is_file())
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    pub fn module_names(&self) -> Vec<String> {
        let dir = self.graders_dir();
        let mut files = Vec::new();
        files.extend(crate::confine::walk_lenient(&dir));
        let mut names: Vec<String> = files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "toml"))
            .filter_map(|f| f.strip_prefix(&dir).ok())
            .map(|f| f.with_extension("").to_string_lossy().to_string())
            .collect();
        names.sort();
        names
    }
}

/// Where opslab keeps its state: `OPSLAB_DATA`, else the user's data directory.
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("OPSLAB_DATA") {
        return PathBuf::from(d);
    }
    dirs::data_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("opslab")
}
