//! The competences of the certification "Exploitant en mode agile (Dev Ops)" (RNCP/RS 2342)
//! that labs and reports refer to, by identifier.

pub struct Competence {
    pub id: &'static str,
    pub en: &'static str,
    pub fr: &'static str,
}

pub const ALL: &[Competence] = &[
    Competence { id: "agile", en: "Act by agile values and pillars", fr: "Agir en accord avec les principes et logiques d'action du mode Agile" },
    Competence { id: "delivery-standard", en: "Standardise and industrialise the delivery process", fr: "Standardiser et industrialiser les processus de livraison" },
    Competence { id: "perf-criteria", en: "Define how performance and availability criteria are measured", fr: "Définir les moyens de mesure des critères de performance et de disponibilité" },
    Competence { id: "sprint-restore", en: "Put back into service the products and environments of previous sprints, quickly", fr: "Retrouver et remettre en service les produits et environnements issus de sprints précédents" },
    Competence { id: "deploy-automation", en: "Industrialise infrastructure operations and application deployments", fr: "Industrialiser les opérations d'infrastructure et les déploiements applicatifs" },
    Competence { id: "release-validation", en: "Validate the development team's deliveries before any deployment", fr: "Valider les livraisons de l'équipe de développement avant tout déploiement" },
    Competence { id: "monitoring-alerting", en: "Shared monitoring, alerting, incident reporting and resolution", fr: "Monitoring, alerte, remontée et résolution d'incidents partagés" },
    Competence { id: "lead-time", en: "Shorten the time from the decision to deploy to availability", fr: "Optimiser les délais de mise à disposition des nouveaux sprints" },
    Competence { id: "debrief", en: "Take an active part in debriefings", fr: "Participer activement aux débriefings" },
];

pub fn find(id: &str) -> Option<&'static Competence> {
    ALL.iter().find(|c| c.id == id)
}
