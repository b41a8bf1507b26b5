//! Content-addressed image builds from `images/`. A tag is the hash of the image's context and
//! of its base, so an unchanged image is never rebuilt. The base of everything is a Debian
//! bookworm image taken from the local engine, pulled where a registry answers, or bootstrapped
//! from Debian's packages with debootstrap.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::backend::BuildEvent;
use crate::backend::{Engine, EngineError};
use crate::progress::Progress;
use crate::project::Project;

/// The base image's name: `opslab/debian:bookworm`, or `OPSLAB_BASE_TAG` in place of `bookworm`
/// (to bootstrap a second base beside the first, as the tests do).
pub fn root_ref() -> (String, String) {
    let tag = std::env::var("OPSLAB_BASE_TAG")
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "bookworm".into());
    ("opslab/debian".into(), tag)
}

pub fn root_name() -> String {
    let (repo, tag) = root_ref();
    format!("{repo}:{tag}")
}
pub use crate::labels::LABEL_IMAGE;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("no image `{0}` in images/")]
    Unknown(String),
    #[error("images/{0}/image.toml: {1}")]
    BadManifest(String, String),
    #[error("images build on each other in a cycle: {0}")]
    Cycle(String),
    #[error("cannot get a Debian base image: {0}")]
    NoBase(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("reading {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("writing {0}: {1}")]
    Write(PathBuf, std::io::Error),
    #[error("not built here: {}", .0.join(", "))]
    Missing(Vec<String>),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Manifest {
    #[serde(default)]
    base: Option<String>,
}

fn manifest(project: &Project, name: &str) -> Result<Manifest, ImageError> {
    let path = project.images_dir().join(name).join("image.toml");
    match std::fs::read_to_string(&path) {
        Ok(t) => toml::from_str(&t)
            .map_err(|e| ImageError::BadManifest(name.into(), e.message().to_string())),
        Err(_) => Ok(Manifest::default()),
    }
}

/// Hash of an image's context: every file's path, mode and content.
fn context_hash(dir: &Path) -> Result<String, ImageError> {
    let files = crate::confine::walk_lenient(dir);
    let mut h = Sha256::new();
    for f in files {
        let rel = f.strip_prefix(dir).unwrap_or(&f);
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0]);
        let meta = std::fs::metadata(&f).map_err(|e| ImageError::Io(f.clone(), e))?;
        h.update(executable_bit(&meta).to_le_bytes());
        h.update(std::fs::read(&f).map_err(|e| ImageError::Io(f.clone(), e))?);
        h.update([0]);
    }
    Ok(hex::encode(h.finalize()))
}

fn executable_bit(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111
}

fn tar_dir(dir: &Path) -> Result<Vec<u8>, ImageError> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(true);
    b.append_dir_all(".", dir)
        .map_err(|e| ImageError::Io(dir.to_path_buf(), e))?;
    b.into_inner()
        .map_err(|e| ImageError::Io(dir.to_path_buf(), e))
}

/// How many images build at once: `OPSLAB_BUILD_JOBS`, or the machine's cores (at most 4: the
/// builds share one engine and one network).
fn build_jobs() -> usize {
    std::env::var("OPSLAB_BUILD_JOBS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .clamp(2, 4)
        })
}

/// What `resolve` works out for one image.
#[derive(Debug, Clone)]
pub struct Planned {
    pub name: String,
    pub tag: String,
    pub base_tag: String,
}

/// Which waiting image to build next: one whose base is built, and among those the one the most
/// waiting images build on (directly or not), so that a chain such as shop-app then prod-host
/// starts first and does not end alone after the others; ties go in plan order.
fn next_to_build(waiting: &[Planned], unbuilt: &[String]) -> Option<usize> {
    let builds_on = |p: &Planned, base: &str| {
        let mut at = p.base_tag.as_str();
        loop {
            if at == base {
                return true;
            }
            match waiting.iter().find(|w| w.tag == at) {
                Some(w) => at = w.base_tag.as_str(),
                None => return false,
            }
        }
    };
    waiting
        .iter()
        .enumerate()
        .filter(|(_, p)| !unbuilt.contains(&p.base_tag))
        .max_by_key(|(i, p)| {
            let above = waiting.iter().filter(|w| builds_on(w, &p.tag)).count();
            (above, std::cmp::Reverse(*i))
        })
        .map(|(i, _)| i)
}

pub struct Builder<'a> {
    pub engine: &'a Engine,
    pub project: &'a Project,
    pub progress: &'a dyn Progress,
}

impl Builder<'_> {
    /// The Debian base image, from the engine, a registry or debootstrap; returns its id.
    pub async fn root(&self) -> Result<String, ImageError> {
        let ours = root_name();
        if let Some(id) = self.engine.image_id(&ours).await? {
            return Ok(id);
        }
        if let Some(id) = self.engine.image_id("debian:bookworm").await? {
            self.progress
                .note("base image: debian:bookworm found in the local engine");
            return self.tag_as_root("debian:bookworm", id).await;
        }
        self.progress
            .step("base image: trying a registry pull of debian:bookworm");
        let pull = tokio::time::timeout(
            Duration::from_secs(30),
            self.engine.pull("debian", "bookworm"),
        )
        .await;
        if let Ok(Ok(())) = pull {
            if let Some(id) = self.engine.image_id("debian:bookworm").await? {
                self.progress
                    .note("base image: pulled debian:bookworm from a registry");
                return self.tag_as_root("debian:bookworm", id).await;
            }
        }
        self.progress.note(
            "base image: no registry answers; bootstrapping Debian bookworm with debootstrap",
        );
        self.bootstrap().await
    }

    async fn tag_as_root(&self, from: &str, id: String) -> Result<String, ImageError> {
        // A one-line build gives it our name, so `images list` and the hashes see one root.
        let dir = tempfile::tempdir().map_err(|e| ImageError::Io(PathBuf::from("tmp"), e))?;
        std::fs::write(dir.path().join("Dockerfile"), format!("FROM {from}\n"))
            .map_err(|e| ImageError::Io(dir.path().to_path_buf(), e))?;
        let labels = HashMap::from([(LABEL_IMAGE.to_string(), "root".to_string())]);
        self.engine
            .build(
                tar_dir(dir.path())?,
                &root_name(),
                HashMap::new(),
                labels,
                |_| {},
            )
            .await?;
        Ok(self.engine.image_id(&root_name()).await?.unwrap_or(id))
    }

    async fn bootstrap(&self) -> Result<String, ImageError> {
        let which = tokio::process::Command::new("sh")
            .args(["-c", "command -v debootstrap"])
            .output()
            .await;
        if !matches!(which, Ok(ref o) if o.status.success()) {
            return Err(ImageError::NoBase(
                "debootstrap is not installed and no registry answers".into(),
            ));
        }
        let dir = tempfile::Builder::new()
            .prefix("opslab-rootfs-")
            .tempdir()
            .map_err(|e| ImageError::Io(PathBuf::from("tmp"), e))?;
        let mirror = std::env::var("OPSLAB_DEBIAN_MIRROR")
            .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
        self.progress
            .step("debootstrap --variant=minbase bookworm (about 30 s)");
        let out = tokio::process::Command::new("debootstrap")
            .args(["--variant=minbase", "bookworm"])
            .arg(dir.path())
            .arg(&mirror)
            .output()
            .await
            .map_err(|e| ImageError::NoBase(format!("debootstrap: {e}")))?;
        if !out.status.success() {
            let text = String::from_utf8_lossy(&out.stderr);
            return Err(ImageError::NoBase(format!(
                "debootstrap failed: {}",
                crate::text::last_lines(&text, 10)
            )));
        }
        // Keep images small and apt quiet, as Debian's official images do.
        let apt_conf = dir.path().join("etc/apt/apt.conf.d/90opslab");
        let _ = std::fs::write(
            apt_conf,
            "APT::Install-Recommends \"false\";\nAPT::Install-Suggests \"false\";\n",
        );
        let _ = std::fs::remove_dir_all(dir.path().join("var/cache/apt/archives"));
        let _ = std::fs::create_dir_all(dir.path().join("var/cache/apt/archives/partial"));
        self.progress
            .step("importing the bootstrapped root file system");
        let tar = tokio::process::Command::new("tar")
            .arg("-C")
            .arg(dir.path())
            .args(["--numeric-owner", "-c", "."])
            .output()
            .await
            .map_err(|e| ImageError::NoBase(format!("tar: {e}")))?;
        if !tar.status.success() {
            return Err(ImageError::NoBase(
                String::from_utf8_lossy(&tar.stderr).to_string(),
            ));
        }
        let (repo, tag) = root_ref();
        self.engine.import(tar.stdout, &repo, &tag).await?;
        self.progress.note(&format!(
            "base image: bootstrapped {} from Debian's packages",
            root_name()
        ));
        self.engine
            .image_id(&root_name())
            .await?
            .ok_or_else(|| ImageError::NoBase("the imported image is not in the engine".into()))
    }

    /// Works out the tags of `names` and of the images they build on, bases first.
    pub fn plan(&self, names: &[String], root_id: &str) -> Result<Vec<Planned>, ImageError> {
        let known = self.project.image_names();
        let mut order: Vec<String> = Vec::new();
        fn visit(
            b: &Builder,
            n: &str,
            known: &[String],
            order: &mut Vec<String>,
            stack: &mut Vec<String>,
        ) -> Result<(), ImageError> {
            if order.iter().any(|o| o == n) {
                return Ok(());
            }
            if !known.iter().any(|k| k == n) {
                return Err(ImageError::Unknown(n.into()));
            }
            if stack.iter().any(|s| s == n) {
                stack.push(n.into());
                return Err(ImageError::Cycle(stack.join(" -> ")));
            }
            stack.push(n.into());
            if let Some(base) = manifest(b.project, n)?.base {
                visit(b, &base, known, order, stack)?;
            }
            stack.pop();
            order.push(n.into());
            Ok(())
        }
        for n in names {
            visit(self, n, &known, &mut order, &mut Vec::new())?;
        }
        let mut tags: BTreeMap<String, String> = BTreeMap::new();
        let mut out = Vec::new();
        for n in order {
            let base_tag = match manifest(self.project, &n)?.base {
                Some(b) => tags.get(&b).cloned().unwrap_or_default(),
                None => root_name(),
            };
            let base_identity = if base_tag == root_name() {
                root_id.to_string()
            } else {
                base_tag.clone()
            };
            let mut h = Sha256::new();
            h.update(context_hash(&self.project.images_dir().join(&n))?);
            h.update(base_identity.as_bytes());
            let tag = format!("opslab/{n}:{}", &hex::encode(h.finalize())[..16]);
            tags.insert(n.clone(), tag.clone());
            out.push(Planned {
                name: n,
                tag,
                base_tag,
            });
        }
        Ok(out)
    }

    /// `names` and the images they build on, each with whether the engine has it (none has
    /// when the Debian base is missing: their tags depend on it).
    pub async fn present(&self, names: &[String]) -> Result<Vec<(Planned, bool)>, ImageError> {
        let root = self.engine.image_id(&root_name()).await?;
        let plan = self.plan(names, root.as_deref().unwrap_or("none"))?;
        let mut out = Vec::new();
        for p in plan {
            let here = root.is_some() && self.engine.image_id(&p.tag).await?.is_some();
            out.push((p, here));
        }
        Ok(out)
    }

    /// Writes opslab's Debian base and every image `names` need (bases first) to one archive at
    /// `path`, whole or not at all; returns the tags written and the archive's size.
    pub async fn export(
        &self,
        names: &[String],
        path: &Path,
    ) -> Result<(Vec<String>, u64), ImageError> {
        if self.engine.image_id(&root_name()).await?.is_none() {
            return Err(ImageError::Missing(vec![root_name()]));
        }
        let status = self.present(names).await?;
        let missing: Vec<String> = status
            .iter()
            .filter(|(_, here)| !here)
            .map(|(p, _)| p.tag.clone())
            .collect();
        if !missing.is_empty() {
            return Err(ImageError::Missing(missing));
        }
        let mut tags = vec![root_name()];
        tags.extend(status.into_iter().map(|(p, _)| p.tag));
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let write = |e| ImageError::Write(path.to_path_buf(), e);
        std::fs::create_dir_all(dir).map_err(write)?;
        let tmp = tempfile::NamedTempFile::new_in(dir).map_err(write)?;
        let mut file = tokio::fs::File::from_std(tmp.reopen().map_err(write)?);
        self.progress.step(&format!(
            "writing {} image(s) to {}",
            tags.len(),
            path.display()
        ));
        let size = self.engine.save_images(&tags, &mut file).await?;
        file.sync_all().await.map_err(write)?;
        tmp.persist(path).map_err(|e| write(e.error))?;
        // A trainer copies it to the classroom's machines.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).map_err(write)?;
        Ok((tags, size))
    }

    /// Loads an archive written by `export` (no network, no debootstrap needed); returns the
    /// tags loaded.
    pub async fn import(&self, path: &Path) -> Result<Vec<String>, ImageError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| ImageError::Io(path.to_path_buf(), e))?;
        self.progress.step(&format!("loading {}", path.display()));
        Ok(self.engine.load_images(file).await?)
    }

    /// Builds one image whose base is there.
    async fn build_one(&self, p: &Planned) -> Result<(), ImageError> {
        let started = std::time::Instant::now();
        self.progress.part(&p.name, "starting");
        let context = tar_dir(&self.project.images_dir().join(&p.name))?;
        let labels = HashMap::from([(LABEL_IMAGE.to_string(), p.name.clone())]);
        let args = HashMap::from([("BASE".to_string(), p.base_tag.clone())]);
        let progress = self.progress;
        self.engine
            .build(context, &p.tag, args, labels, |ev| match ev {
                BuildEvent::Step(s) => progress.part(&p.name, &s),
                BuildEvent::Output(_) => {}
            })
            .await?;
        self.progress.part_done(
            &p.name,
            &format!("built in {:.0} s", started.elapsed().as_secs_f64()),
        );
        Ok(())
    }

    /// Builds what is missing among `names` (and their bases); returns (name, tag, built?).
    pub async fn ensure(
        &self,
        names: &[String],
    ) -> Result<Vec<(String, String, bool)>, ImageError> {
        let root = self.root().await?;
        let plan = self.plan(names, &root)?;
        let mut missing = Vec::new();
        for p in &plan {
            if self.engine.image_id(&p.tag).await?.is_none() {
                missing.push(p.clone());
            }
        }
        let mut out: Vec<(String, String, bool)> = plan
            .iter()
            .map(|p| (p.name.clone(), p.tag.clone(), false))
            .collect();
        if missing.is_empty() {
            return Ok(out);
        }
        self.progress
            .begin("building images", Some(missing.len() as u64));
        // An image builds once its base is built; independent images build side by side.
        let mut waiting: Vec<Planned> = missing.clone();
        let mut unbuilt: Vec<String> = missing.iter().map(|p| p.tag.clone()).collect();
        let mut building = futures_util::stream::FuturesUnordered::new();
        let jobs = build_jobs();
        loop {
            while building.len() < jobs {
                let Some(i) = next_to_build(&waiting, &unbuilt) else {
                    break;
                };
                let p = waiting.remove(i);
                building.push(async move {
                    let r = self.build_one(&p).await;
                    (p, r)
                });
            }
            let Some((p, r)) = futures_util::StreamExt::next(&mut building).await else {
                break;
            };
            r?;
            unbuilt.retain(|t| *t != p.tag);
            self.progress.advance();
            if let Some(o) = out.iter_mut().find(|o| o.0 == p.name) {
                o.2 = true;
            }
        }
        self.progress
            .finish(&format!("built {} image(s)", missing.len()));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(name: &str, base: &str) -> Planned {
        Planned {
            name: name.into(),
            tag: format!("opslab/{name}:x"),
            base_tag: base.into(),
        }
    }

    #[test]
    fn an_image_others_build_on_starts_first() {
        let common = "opslab/common:x".to_string();
        let waiting = vec![
            planned("gitserver", &common),
            planned("grader", &common),
            planned("prod-host", "opslab/shop-app:x"),
            planned("shop-app", &common),
            planned("workstation", &common),
        ];
        let mut unbuilt: Vec<String> = waiting.iter().map(|p| p.tag.clone()).collect();
        // The common layer is still building: nothing can start.
        unbuilt.push(common.clone());
        assert_eq!(next_to_build(&waiting, &unbuilt), None);
        unbuilt.pop();
        // Once it is built, shop-app (prod-host builds on it) goes before the others.
        assert_eq!(next_to_build(&waiting, &unbuilt), Some(3));
        // With no such chain left, plan order.
        let rest: Vec<Planned> = waiting
            .iter()
            .filter(|p| p.name != "shop-app" && p.name != "prod-host")
            .cloned()
            .collect();
        let unbuilt: Vec<String> = rest.iter().map(|p| p.tag.clone()).collect();
        assert_eq!(next_to_build(&rest, &unbuilt), Some(0));
    }
}
