//! The tonic `EnrollmentService`, and reading the agent id from a verified
//! client certificate.

use std::sync::Arc;

use onshi_proto::v1::enrollment_service_server::EnrollmentService;
use onshi_proto::v1::{EnrollRequest, EnrollResponse, RenewRequest, RenewResponse};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::tls::{self, Pki};

/// The agent id of the caller, from its client certificate (verified by TLS
/// against our CA), never from the message body.
pub fn peer_agent_id<T>(request: &Request<T>) -> Result<String, Status> {
    let certs = request.peer_certs().ok_or_else(|| {
        Status::unauthenticated(
            "a client certificate is required: enrol this PC with `onshi-agent enroll`",
        )
    })?;
    certs
        .first()
        .and_then(|der| tls::agent_id_from_cert(der.as_ref()))
        .ok_or_else(|| Status::unauthenticated("client certificate carries no agent id"))
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

pub struct Enrollment {
    pub pool: PgPool,
    pub pki: Arc<Pki>,
}

#[tonic::async_trait]
impl EnrollmentService for Enrollment {
    async fn enroll(
        &self,
        request: Request<EnrollRequest>,
    ) -> Result<Response<EnrollResponse>, Status> {
        let remote = request
            .remote_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        let req = request.into_inner();
        if req.token.len() > 256 || req.csr_pem.len() > 16 * 1024 {
            return Err(Status::invalid_argument("token or CSR too long"));
        }
        let enrolled = super::enroll(
            &self.pool,
            &self.pki,
            req.token.trim(),
            &req.csr_pem,
            &req.hostname,
            &remote,
        )
        .await
        .inspect_err(|e| tracing::warn!(error = %e, %remote, "enrolment refused"))?;
        tracing::info!(agent_id = %enrolled.agent_id, site_id = %enrolled.site_id, "agent enrolled");
        Ok(Response::new(EnrollResponse {
            agent_id: enrolled.agent_id,
            site_id: enrolled.site_id,
            certificate_pem: enrolled.cert.pem,
            ca_pem: self.pki.ca_cert_pem.clone(),
            not_after: ts(enrolled.cert.not_after),
        }))
    }

    async fn renew(
        &self,
        request: Request<RenewRequest>,
    ) -> Result<Response<RenewResponse>, Status> {
        let agent_id = peer_agent_id(&request)?;
        let req = request.into_inner();
        if req.csr_pem.len() > 16 * 1024 {
            return Err(Status::invalid_argument("CSR too long"));
        }
        let cert = super::renew(&self.pool, &self.pki, &agent_id, &req.csr_pem)
            .await
            .inspect_err(|e| tracing::warn!(error = %e, %agent_id, "renewal refused"))?;
        Ok(Response::new(RenewResponse {
            not_after: ts(cert.not_after),
            certificate_pem: cert.pem,
        }))
    }
}
