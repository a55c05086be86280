//! The gRPC contract between `onshi-agent` and `onshi-server`, generated from
//! `proto/onshi/v1/agent.proto` at build time.

pub mod v1 {
    #![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]
    tonic::include_proto!("onshi.v1");

    /// Encoded file descriptor set, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/onshi_descriptor.bin"));
}
