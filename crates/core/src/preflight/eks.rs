//! Readiness rules for EKS Fargate workloads: what the Kubernetes reader saw → findings.
//! Pure: no I/O here (the reader lives in `remediator_kube::preflight`).
