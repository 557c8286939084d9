//! The Docker Engine API's model: the request and response types both
//! front ends speak (the CLI builds the same create body docker's CLI
//! sends; the API server, next, deserializes it off the wire).
//!
//! They come from `bollard-stubs`, bollard's models generated from moby's
//! `api/swagger.yaml` (API 1.53, docker 29): a maintained crate of exactly
//! these types, with docker's JSON field names, that depends on nothing
//! but serde, serde_json and serde_repr (its chrono/time/buildkit features
//! stay off). Generating our own from the swagger file would give the
//! same structs with none of the upkeep shared. Where a response must keep
//! explicit nulls that these types drop, the engine still builds JSON.

pub use bollard_stubs::models::{
    ContainerCreateBody, ContainerSummary, ContainerSummaryHealth, ContainerSummaryHealthStatusEnum,
    ContainerSummaryHostConfig, ContainerSummaryNetworkSettings, ContainerSummaryStateEnum, DeviceMapping,
    EndpointIpamConfig, EndpointSettings, ExecConfig, HealthConfig, HostConfig, HostConfigCgroupnsModeEnum,
    HostConfigLogConfig, ImageSummary, Mount, MountBindOptions, MountBindOptionsPropagationEnum, MountPoint,
    MountTmpfsOptions, MountType, MountVolumeOptions, NetworkingConfig, PortBinding, PortMap, PortSummary,
    PortSummaryTypeEnum, ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum, ThrottleDevice,
};
